package broker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/latchkey/latchkey/broker/sqlstore"
)

// ProjectUpdate is a change to a project's origins and RP name; its zero value changes
// nothing.
type ProjectUpdate struct {
	// AddOrigins are added (checked and normalised as CreateProject does); ones the project
	// already has are left as they are.
	AddOrigins []string
	// RemoveOrigins are removed; each must be one of the project's origins.
	RemoveOrigins []string
	// RPName, when not empty, is the new RP name that authenticators show.
	RPName string
}

// errProjectChanged means the project changed between the read and the conditional update.
var errProjectChanged = errors.New("the project changed meanwhile")

// UpdateProject changes a project's origins and RP name, records a project.updated event
// when something changed, and returns the project. Removals apply before additions, and at
// least one origin must remain. It returns a *ValidationError for a bad origin or name and
// ErrNotFound for an unknown project. The change is in effect at once on this broker and
// within CacheTTL on the others.
func (b *Broker) UpdateProject(ctx context.Context, id string, in ProjectUpdate) (Project, error) {
	defer b.forgetProject(id) // see CacheTTL
	for attempt := 0; ; attempt++ {
		p, err := b.Project(ctx, id)
		if err != nil {
			return Project{}, err
		}
		next, details, err := applyProjectUpdate(p, in)
		if err != nil || details == nil {
			return p, err
		}
		err = b.store.InTx(ctx, func(tx *sqlstore.Tx) error {
			// Conditional on what was read, so that two concurrent updates cannot lose one another.
			ok, err := tx.ReplaceRelyingParty(ctx, id, p.Origins, p.RPName, next.Origins, next.RPName)
			if err != nil {
				return err
			}
			if !ok {
				return errProjectChanged
			}
			return b.record(ctx, tx, id, Event{Type: EventProjectUpdated, Details: details})
		})
		if errors.Is(err, errProjectChanged) && attempt < 3 {
			continue
		}
		if err != nil {
			return Project{}, err
		}
		return next, nil
	}
}

// applyProjectUpdate returns p changed by in and the details of the event that records the
// change, nil if nothing changes.
func applyProjectUpdate(p Project, in ProjectUpdate) (Project, map[string]any, error) {
	next := p
	next.Origins = slices.Clone(p.Origins)
	details := map[string]any{}
	var removed, added []string
	for _, o := range in.RemoveOrigins {
		norm, err := normalizeOrigin(strings.TrimSpace(o), p.RPID)
		i := slices.Index(next.Origins, norm)
		if err != nil || i < 0 {
			return p, nil, &ValidationError{"removeOrigins", fmt.Sprintf("%q is not an origin of the project", o)}
		}
		next.Origins = slices.Delete(next.Origins, i, i+1)
		removed = append(removed, norm)
	}
	for _, o := range in.AddOrigins {
		norm, err := normalizeOrigin(strings.TrimSpace(o), p.RPID)
		if err != nil {
			return p, nil, &ValidationError{"addOrigins", fmt.Sprintf("%q: %v", o, err)}
		}
		if !slices.Contains(next.Origins, norm) {
			next.Origins = append(next.Origins, norm)
			added = append(added, norm)
		}
	}
	if len(next.Origins) == 0 {
		return p, nil, &ValidationError{"origins", "needs at least one origin"}
	}
	if len(removed) > 0 {
		details["originsRemoved"] = removed
	}
	if len(added) > 0 {
		details["originsAdded"] = added
	}
	if name := strings.TrimSpace(in.RPName); name != "" && name != p.RPName {
		if len(name) > 255 || !utf8.ValidString(name) {
			return p, nil, &ValidationError{"rpName", "must be at most 255 characters"}
		}
		next.RPName = name
		details["rpName"] = map[string]string{"from": p.RPName, "to": name}
	}
	if len(details) == 0 {
		return p, nil, nil
	}
	return next, details, nil
}
