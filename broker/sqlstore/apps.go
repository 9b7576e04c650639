package sqlstore

import "context"

// App is a row of apps: a project's Android app (its package name and signing-certificate
// fingerprints) or iOS app (its TEAMID.bundle.id).
type App struct {
	ProjectID    string       `db:"project_id"`
	ID           string       `db:"id"`
	Platform     string       `db:"platform"`
	Identifier   string       `db:"identifier"`
	Fingerprints List[string] `db:"fingerprints"`
	CreatedAt    int64        `db:"created_at"`
}

const appColumns = `project_id, id, platform, identifier, fingerprints, created_at`

// InsertApp adds a. Errors: ErrAlreadyExists (the project already has an app with this
// platform and identifier, or this ID).
func (q queries) InsertApp(ctx context.Context, a App) error {
	if a.Fingerprints == nil {
		a.Fingerprints = List[string]{}
	}
	_, err := q.exec(ctx, `INSERT INTO apps (`+appColumns+`) VALUES (?, ?, ?, ?, ?, ?)`,
		a.ProjectID, a.ID, a.Platform, a.Identifier, a.Fingerprints, a.CreatedAt)
	return err
}

// Apps returns the project's apps, oldest first (none for an unknown project).
func (q queries) Apps(ctx context.Context, projectID string) ([]App, error) {
	var out []App
	err := q.selectRows(ctx, &out, `SELECT `+appColumns+` FROM apps WHERE project_id = ? ORDER BY created_at, id`, projectID)
	return out, err
}

// DeleteApp deletes the project's app id; only one caller can. Errors: ErrNotFound.
func (q queries) DeleteApp(ctx context.Context, projectID, id string) error {
	return q.execOne(ctx, "app "+id, `DELETE FROM apps WHERE project_id = ? AND id = ?`, projectID, id)
}

// PasskeyEndpoints is the project's enroll and manage URLs ("" when not set), the content of
// its /.well-known/passkey-endpoints.
type PasskeyEndpoints struct {
	Enroll string `db:"passkey_enroll_url"`
	Manage string `db:"passkey_manage_url"`
}

// PasskeyEndpoints returns the project's passkey endpoints. Errors: ErrNotFound.
func (q queries) PasskeyEndpoints(ctx context.Context, projectID string) (PasskeyEndpoints, error) {
	var e PasskeyEndpoints
	err := q.byKey().get(ctx, &e, `SELECT passkey_enroll_url, passkey_manage_url FROM projects WHERE id = ?`, projectID)
	return e, err
}

// SetPasskeyEndpoints replaces the project's passkey endpoints. Errors: ErrNotFound.
func (q queries) SetPasskeyEndpoints(ctx context.Context, projectID string, e PasskeyEndpoints) error {
	return q.execOne(ctx, "project "+projectID, `UPDATE projects SET passkey_enroll_url = ?, passkey_manage_url = ? WHERE id = ?`,
		e.Enroll, e.Manage, projectID)
}
