// Checks web/openapi.yaml as an API client would use it:
//   1. strict validation with @apidevtools/swagger-parser;
//   2. TypeScript types generated with openapi-typescript's defaults;
//   3. responses captured from the real server (responses.json, or the file given as the
//      first argument) assigned, as object literals, to the generated type of their operation
//      and status, and type-checked with tsc --strict.
// Run: npm ci && npm run check   (TestOpenAPITypeScript in web/ runs it on fresh captures.)
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import SwaggerParser from '@apidevtools/swagger-parser';
import openapiTS, { astToString } from 'openapi-typescript';
import ts from 'typescript';

const here = path.dirname(fileURLToPath(import.meta.url));
const docPath = path.resolve(here, '../../openapi.yaml');
const fixture = path.resolve(process.argv[2] || path.join(here, 'responses.json'));
const out = path.join(here, 'out');

await SwaggerParser.validate(docPath).catch((err) => {
  console.error(`openapi.yaml fails strict validation: ${err.message}`);
  process.exit(1);
});

fs.mkdirSync(out, { recursive: true });
fs.writeFileSync(path.join(out, 'api.d.ts'), astToString(await openapiTS(new URL(`file://${docPath}`))));

const entries = JSON.parse(fs.readFileSync(fixture, 'utf8'));
if (!Array.isArray(entries) || entries.length === 0) {
  console.error(`${fixture}: no captured responses`);
  process.exit(1);
}
const type = (e) => `operations[${JSON.stringify(e.operation)}]["responses"][${e.status}]["content"]["application/json"]`;
let src = `import type { operations } from './api';\n\n`;
entries.forEach((e, i) => {
  src += `// ${e.operation} ${e.status}\nexport const r${i}: ${type(e)} = ${JSON.stringify(e.value, null, 2)};\n\n`;
});
// The check must be able to fail: a response the document does not allow is an error.
src += `// @ts-expect-error: healthz answers {"status": "ok"} only\nexport const mustFail: ${type({ operation: 'healthz', status: 200 })} = { status: 'down' };\n`;
const file = path.join(out, 'responses.ts');
fs.writeFileSync(file, src);

const program = ts.createProgram([file], {
  strict: true, noEmit: true, skipLibCheck: false, target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.ESNext, moduleResolution: ts.ModuleResolutionKind.Bundler, types: [],
});
const diagnostics = ts.getPreEmitDiagnostics(program);
if (diagnostics.length > 0) {
  console.error(ts.formatDiagnosticsWithColorAndContext(diagnostics, {
    getCanonicalFileName: (f) => f, getCurrentDirectory: () => here, getNewLine: () => '\n',
  }));
  console.error(`${diagnostics.length} type error(s): the responses above do not satisfy the types generated from openapi.yaml`);
  process.exit(1);
}
console.log(`openapi.yaml: valid; ${entries.length} captured responses satisfy its generated TypeScript types`);
