package broker

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/latchkey/latchkey/broker/sqlstore"
	"github.com/latchkey/latchkey/connecttoken"
)

// ConnectToken is a minted connect token; its JSON form is the contract's object, with
// Secret present only in the response to minting.
type ConnectToken struct {
	ID     string            `json:"id"`
	Type   connecttoken.Type `json:"tokenType"`
	Data   ConnectTokenData  `json:"data"`
	Status string            `json:"connectTokenStatus"`
	// Expires is unix seconds.
	Expires int64  `json:"expires"`
	Secret  string `json:"secret,omitempty"`
}

// ConnectTokenData names the user a token is for.
type ConnectTokenData struct {
	Identifier  string `json:"identifier"`
	DisplayName string `json:"displayName,omitempty"`
}

// MintRequest is what an app backend asks for.
type MintRequest struct {
	Type                 string           `json:"type"`
	Data                 ConnectTokenData `json:"data"`
	MaxLifetimeInSeconds *int64           `json:"maxLifetimeInSeconds"`
}

func tokenFromRow(r sqlstore.ConnectToken) ConnectToken {
	status := "initial"
	if r.ConsumedAt != nil {
		status = "consumed"
	}
	return ConnectToken{ID: r.ID, Type: connecttoken.Type(r.Type), Data: ConnectTokenData{r.Identifier, r.DisplayName},
		Status: status, Expires: r.ExpiresAt / 1000}
}

func tokenState(r sqlstore.ConnectToken) connecttoken.State {
	return connecttoken.State{Type: connecttoken.Type(r.Type), ExpiresAt: fromMS(r.ExpiresAt), Consumed: r.ConsumedAt != nil}
}

// MintConnectToken validates req and stores a new connect token for the project. A
// passkey-append token creates the user on first use (and updates its display name). The
// connect_token.minted event names the identifier's user when there is one.
func (b *Broker) MintConnectToken(ctx context.Context, projectID string, req MintRequest) (ConnectToken, error) {
	typ, err := connecttoken.ParseType(req.Type)
	if err != nil {
		return ConnectToken{}, &ValidationError{"type", "must be one of passkey-append, passkey-list, passkey-delete, passkey-login"}
	}
	if err := validText("data.identifier", req.Data.Identifier, 255, true); err != nil {
		return ConnectToken{}, err
	}
	if err := validText("data.displayName", req.Data.DisplayName, 255, typ == connecttoken.TypeAppend); err != nil {
		return ConnectToken{}, err
	}
	lifetime, err := connecttoken.Lifetime(req.MaxLifetimeInSeconds)
	if err != nil {
		return ConnectToken{}, &ValidationError{"maxLifetimeInSeconds", "must be between 1 and 3600"}
	}
	p, err := b.CachedProject(ctx, projectID)
	if err != nil {
		return ConnectToken{}, err
	}
	if limit := time.Duration(p.Policy.ConnectTokenMaxLifetimeInSeconds) * time.Second; lifetime > limit {
		if req.MaxLifetimeInSeconds != nil {
			return ConnectToken{}, &ValidationError{"maxLifetimeInSeconds", fmt.Sprintf("must be between 1 and %d (this project's limit)", p.Policy.ConnectTokenMaxLifetimeInSeconds)}
		}
		lifetime = limit
	}
	secret, hash, err := connecttoken.New()
	if err != nil {
		return ConnectToken{}, err
	}
	id, err := newID("ctk-")
	if err != nil {
		return ConnectToken{}, err
	}
	now := b.Now()
	row := sqlstore.ConnectToken{ID: id, ProjectID: projectID, Type: string(typ), SecretHash: hash, Identifier: req.Data.Identifier,
		DisplayName: req.Data.DisplayName, CreatedAt: ms(now), ExpiresAt: ms(now.Add(lifetime))}
	err = b.store.InTx(ctx, func(tx *sqlstore.Tx) error {
		// The event names the user when there is one, so that erasing a user's events finds
		// it by user ID.
		var (
			u   User
			err error
		)
		if typ == connecttoken.TypeAppend {
			u, err = b.ensureUser(ctx, tx, projectID, req.Data.Identifier, req.Data.DisplayName)
		} else if u, err = b.userByIdentifier(ctx, tx, projectID, req.Data.Identifier); isNotFound(err) {
			err = nil
		}
		if err != nil {
			return err
		}
		if err := tx.InsertConnectToken(ctx, row); err != nil {
			return err
		}
		return b.record(ctx, tx, projectID, tokenEvent(EventConnectTokenMinted, row, u.ID))
	})
	if err != nil {
		return ConnectToken{}, err
	}
	b.observer.ConnectTokenMinted(projectID, string(typ))
	t := tokenFromRow(row)
	t.Secret = secret
	return t, nil
}

// ConnectToken returns the project's token with id (without its secret), or ErrNotFound.
func (b *Broker) ConnectToken(ctx context.Context, projectID, id string) (ConnectToken, error) {
	r, err := b.store.ConnectToken(ctx, projectID, id)
	if err != nil {
		return ConnectToken{}, err
	}
	return tokenFromRow(r), nil
}

// RevokeConnectToken deletes the project's token with id, or returns ErrNotFound.
func (b *Broker) RevokeConnectToken(ctx context.Context, projectID, id string) error {
	return b.store.InTx(ctx, func(tx *sqlstore.Tx) error {
		if err := tx.DeleteConnectToken(ctx, projectID, id); err != nil {
			return err
		}
		return b.record(ctx, tx, projectID, Event{Type: EventConnectTokenRevoked, Details: map[string]any{"connectTokenID": id, "via": "backend"}})
	})
}

// invalidTokenDetail is what a client learns of a connect token that does not authorise its
// request: not whether it exists, nor its type or state (those go to the logs).
const invalidTokenDetail = "the connect token is unknown, expired, already used or not for this operation"

// invalidToken is the ErrInvalidConnectToken of a token refused for reason.
func invalidToken(reason string) error {
	return &DetailError{Kind: ErrInvalidConnectToken, Detail: invalidTokenDetail, Reason: strings.TrimPrefix(reason, "connecttoken: ")}
}

// checkToken finds the project's token for secret and checks that it authorises an operation
// of type want now. Every failure is an ErrInvalidConnectToken.
func (b *Broker) checkToken(ctx context.Context, q reader, projectID, secret string, want connecttoken.Type) (sqlstore.ConnectToken, error) {
	hash, err := connecttoken.Hash(secret)
	if err != nil {
		return sqlstore.ConnectToken{}, detailf(ErrInvalidConnectToken, "%s", strings.TrimPrefix(err.Error(), "connecttoken: "))
	}
	r, err := q.ConnectTokenByHash(ctx, projectID, hash)
	if isNotFound(err) {
		return sqlstore.ConnectToken{}, invalidToken("unknown token")
	} else if err != nil {
		return sqlstore.ConnectToken{}, err
	}
	if err := tokenState(r).Authorizes(want, b.Now()); err != nil {
		return sqlstore.ConnectToken{}, invalidToken(err.Error())
	}
	return r, nil
}

// consumeToken marks token id consumed inside tx, and fails with ErrInvalidConnectToken
// unless this call is the one that consumed it while it was live: at most one succeeds.
func (b *Broker) consumeToken(ctx context.Context, tx *sqlstore.Tx, id string, now time.Time) error {
	err := tx.ConsumeConnectToken(ctx, id, ms(now))
	if isNotFound(err) {
		return detailf(ErrInvalidConnectToken, "token already used or expired")
	}
	return err
}

// ListPasskeys consumes a passkey-list token and returns its user's passkeys.
func (b *Broker) ListPasskeys(ctx context.Context, projectID, secret string) ([]Passkey, Signal, error) {
	return b.manage(ctx, projectID, secret, connecttoken.TypeList, "")
}

// DeletePasskey consumes a passkey-delete token, deletes credentialID from its user's
// passkeys (ErrNotFound if the user has no such passkey, and the token stays unused), and
// returns the passkeys left.
func (b *Broker) DeletePasskey(ctx context.Context, projectID, secret, credentialID string) ([]Passkey, Signal, error) {
	if raw, err := unb64(credentialID); err != nil || len(raw) == 0 || len(raw) > 1023 {
		return nil, Signal{}, &ValidationError{"credentialID", "must be a base64url credential ID"}
	}
	return b.manage(ctx, projectID, secret, connecttoken.TypeDelete, credentialID)
}

func (b *Broker) manage(ctx context.Context, projectID, secret string, typ connecttoken.Type, deleteID string) ([]Passkey, Signal, error) {
	p, err := b.CachedProject(ctx, projectID)
	if err != nil {
		return nil, Signal{}, err
	}
	var (
		list []Passkey
		sig  Signal
	)
	now := b.Now()
	err = b.store.InTx(ctx, func(tx *sqlstore.Tx) error {
		tok, err := b.checkToken(ctx, tx, projectID, secret, typ)
		if err != nil {
			return err
		}
		if err := b.consumeToken(ctx, tx, tok.ID, now); err != nil {
			return err
		}
		u, err := b.userByIdentifier(ctx, tx, projectID, tok.Identifier)
		found := err == nil
		if err != nil && !isNotFound(err) {
			return err
		}
		if err := b.record(ctx, tx, projectID, tokenEvent(EventConnectTokenConsumed, tok, u.ID)); err != nil {
			return err
		}
		if !found {
			if deleteID != "" {
				return fmt.Errorf("passkey %s: %w", deleteID, ErrNotFound)
			}
			list, sig = []Passkey{}, b.signal(p, User{}, nil)
			return nil
		}
		if deleteID != "" {
			if err := tx.DeletePasskey(ctx, projectID, deleteID, u.ID); err != nil {
				return err
			}
			if err := b.record(ctx, tx, projectID, Event{Type: EventPasskeyDeleted, UserID: u.ID, CredentialID: deleteID,
				Details: map[string]any{"via": "manage", "connectTokenID": tok.ID}}); err != nil {
				return err
			}
			if err := b.count(ctx, tx, projectID, now, sqlstore.Count{Series: seriesPasskeyRemoved, Value: 1}); err != nil {
				return err
			}
		}
		if list, err = b.passkeysOf(ctx, tx, projectID, u.ID); err != nil {
			return err
		}
		sig = b.signal(p, u, list)
		return nil
	})
	if err == nil {
		b.observer.ConnectTokenConsumed(projectID, string(typ))
	}
	return list, sig, err
}
