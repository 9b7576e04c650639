package exampleapp

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// latchkeyClient calls Latchkey's backend API with the project's credentials, as any app
// backend would: mint connect tokens, verify signedPasskeyData.
type latchkeyClient struct {
	baseURL   string
	projectID string
	apiSecret string
	http      *http.Client
}

// brokerError is a non-2xx answer of the broker, from its error envelope.
type brokerError struct {
	Status  int
	Type    string
	Message string
}

func (e *brokerError) Error() string {
	return fmt.Sprintf("latchkey: %d %s: %s", e.Status, e.Type, e.Message)
}

// connectTokenTypes maps what pages ask for to the broker's connect token types.
var connectTokenTypes = map[string]string{
	"passkey-append": "passkey-append", "append": "passkey-append",
	"passkey-list": "passkey-list", "list": "passkey-list",
	"passkey-delete": "passkey-delete", "delete": "passkey-delete",
}

// mintConnectToken returns the secret of a new connect token of typ for the user.
func (c *latchkeyClient) mintConnectToken(ctx context.Context, typ, identifier, displayName string) (string, error) {
	req := map[string]any{
		"type":                 typ,
		"data":                 map[string]string{"identifier": identifier, "displayName": displayName},
		"maxLifetimeInSeconds": 300,
	}
	var resp struct {
		Secret string `json:"secret"`
	}
	if err := c.post(ctx, "/v2/connectTokens", req, &resp); err != nil {
		return "", err
	}
	if resp.Secret == "" {
		return "", fmt.Errorf("latchkey: connect token answer without a secret")
	}
	return resp.Secret, nil
}

// verification is the broker's verdict on a signedPasskeyData.
type verification struct {
	VerificationResult string `json:"verificationResult"`
	Reason             string `json:"reason"`
	UserID             string `json:"userID"`
	Username           string `json:"username"`
	CredentialID       string `json:"credentialID"`
}

// verifySignedData asks the broker whether signedPasskeyData is genuine, fresh and unused;
// the broker records it, so a second call with the same token is refused.
func (c *latchkeyClient) verifySignedData(ctx context.Context, signedPasskeyData string) (verification, error) {
	var v verification
	err := c.post(ctx, "/v2/passkeys/verifySignedData", map[string]string{"signedPasskeyData": signedPasskeyData}, &v)
	return v, err
}

// reportPasswordLogins adds n password logins, made now, to the project's analytics.
func (c *latchkeyClient) reportPasswordLogins(ctx context.Context, n int) error {
	var resp struct {
		Recorded int `json:"recorded"`
	}
	return c.post(ctx, "/v2/analytics/passwordLogins", map[string]int{"count": n}, &resp)
}

func (c *latchkeyClient) post(ctx context.Context, path string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(c.baseURL, "/")+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.SetBasicAuth(c.projectID, c.apiSecret)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("latchkey: %w", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("latchkey: reading answer: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		var env struct {
			Message string `json:"message"`
			Error   struct {
				Type string `json:"type"`
			} `json:"error"`
		}
		_ = json.Unmarshal(raw, &env)
		return &brokerError{Status: resp.StatusCode, Type: env.Error.Type, Message: env.Message}
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("latchkey: decoding answer of %s: %w", path, err)
	}
	return nil
}
