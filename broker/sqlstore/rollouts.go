package sqlstore

import "context"

// Rollout is a row of rollouts: which of a project's components are on, for whom.
// Login, Append and Manage are "off", "on" or a share in basis points ("2500").
type Rollout struct {
	ProjectID     string       `db:"project_id"`
	Login         string       `db:"login"`
	Append        string       `db:"append_passkey"`
	Manage        string       `db:"manage"`
	Allow         List[string] `db:"allow_list"`
	Deny          List[string] `db:"deny_list"`
	Requirements  List[string] `db:"requirements"`
	DeclinePeriod int64        `db:"decline_period"`
	UpdatedAt     int64        `db:"updated_at"`
}

const rolloutColumns = `project_id, login, append_passkey, manage, allow_list, deny_list, requirements, decline_period, updated_at`

// Rollout returns the rollout of the project. Errors: ErrNotFound (the project has none:
// everything is on).
func (q queries) Rollout(ctx context.Context, projectID string) (Rollout, error) {
	var r Rollout
	err := q.byKey().get(ctx, &r, `SELECT `+rolloutColumns+` FROM rollouts WHERE project_id = ?`, projectID)
	return r, err
}

// Rollouts returns every project's rollout row.
func (q queries) Rollouts(ctx context.Context) ([]Rollout, error) {
	var out []Rollout
	err := q.selectRows(ctx, &out, `SELECT `+rolloutColumns+` FROM rollouts ORDER BY project_id`)
	return out, err
}

// ReplaceRollout writes r if the project's row is still the one read: none when prevUpdatedAt
// is nil, else the one updated at *prevUpdatedAt. It reports whether it wrote: the comparison
// and the write are one statement, so concurrent changes never lose one another. The caller
// makes sure the project exists.
func (q queries) ReplaceRollout(ctx context.Context, r Rollout, prevUpdatedAt *int64) (bool, error) {
	if prevUpdatedAt == nil {
		n, err := q.exec(ctx, `INSERT INTO rollouts (`+rolloutColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (project_id) DO NOTHING`,
			r.ProjectID, r.Login, r.Append, r.Manage, r.Allow, r.Deny, r.Requirements, r.DeclinePeriod, r.UpdatedAt)
		return n == 1, err
	}
	n, err := q.exec(ctx, `UPDATE rollouts SET login = ?, append_passkey = ?, manage = ?, allow_list = ?, deny_list = ?,
		requirements = ?, decline_period = ?, updated_at = ? WHERE project_id = ? AND updated_at = ?`,
		r.Login, r.Append, r.Manage, r.Allow, r.Deny, r.Requirements, r.DeclinePeriod, r.UpdatedAt, r.ProjectID, *prevUpdatedAt)
	return n == 1, err
}

// DeclineAppend records that the project's user declined the passkey offer until the given
// time (milliseconds), replacing an earlier decline. The caller makes sure the user exists.
func (q queries) DeclineAppend(ctx context.Context, projectID, userID string, until int64) error {
	_, err := q.exec(ctx, `INSERT INTO append_declines (project_id, user_id, declined_until) VALUES (?, ?, ?)
		ON CONFLICT (project_id, user_id) DO UPDATE SET declined_until = excluded.declined_until`, projectID, userID, until)
	return err
}

// AppendDeclinedUntil returns until when the user declined the passkey offer (milliseconds).
// Errors: ErrNotFound (never declined).
func (q queries) AppendDeclinedUntil(ctx context.Context, projectID, userID string) (int64, error) {
	var until int64
	err := q.byKey().get(ctx, &until, `SELECT declined_until FROM append_declines WHERE project_id = ? AND user_id = ?`, projectID, userID)
	return until, err
}
