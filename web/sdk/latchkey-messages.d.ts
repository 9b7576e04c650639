// Type declarations of the components' message catalogues (/web/latchkey-messages.js).

type Messages = {
  'busy': string;
  [key: `${'login' | 'append' | 'manage' | 'error'}.${string}`]: string;
};

/** One catalogue per shipped language; every catalogue has every key of catalogues.en. */
export declare const catalogues: {
  en: Messages; de: Messages; fr: Messages; es: Messages; ja: Messages;
};
