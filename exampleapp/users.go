package exampleapp

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/jmoiron/sqlx"
	"golang.org/x/crypto/bcrypt"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Errors of the user store.
var (
	errNotFound           = errors.New("not found")
	errEmailTaken         = errors.New("an account with this email already exists")
	errInvalidCredentials = errors.New("wrong email or password")
)

// fieldError is a sign-up input that is not acceptable; Message is shown to the user.
type fieldError struct{ Field, Message string }

func (e *fieldError) Error() string { return e.Field + ": " + e.Message }

// user is one account of the app. Email is also the identifier the app gives Latchkey.
type user struct {
	ID             string    `db:"id" json:"id"`
	Email          string    `db:"email" json:"email"`
	Name           string    `db:"name" json:"name"`
	PasswordHash   []byte    `db:"password_hash" json:"-"`
	RefreshVersion int64     `db:"refresh_version" json:"-"`
	CreatedAt      time.Time `db:"created_at" json:"createdAt"`
}

const schema = `
CREATE TABLE IF NOT EXISTS users (
	id              TEXT PRIMARY KEY,
	email           TEXT NOT NULL UNIQUE,
	name            TEXT NOT NULL,
	password_hash   BLOB NOT NULL,
	refresh_version INTEGER NOT NULL DEFAULT 1,
	created_at      TIMESTAMP NOT NULL
)`

// openDB opens (and creates) DataDir/exampleapp.db.
func openDB(ctx context.Context, dataDir string) (*sqlx.DB, error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, err
	}
	path := filepath.Join(dataDir, "exampleapp.db")
	// Only the owner may read the database (it holds password hashes); SQLite gives its
	// -wal and -shm files the database file's mode. Files an older version made readable by
	// all are restricted too.
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDONLY, 0o600)
	if err != nil {
		return nil, err
	}
	f.Close()
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if err := os.Chmod(p, 0o600); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
	}
	db, err := sqlx.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_txlock=immediate")
	if err != nil {
		return nil, err
	}
	if _, err := db.ExecContext(ctx, schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("creating schema in %s: %w", path, err)
	}
	return db, nil
}

// bcryptCost is the cost of password hashes; tests lower it.
var bcryptCost = bcrypt.DefaultCost

// dummyHash is compared against when the email is unknown, so that a wrong email takes as
// long as a wrong password. It is made on first use, not when a program starts.
var dummyHash = sync.OnceValue(func() []byte {
	h, _ := bcrypt.GenerateFromPassword([]byte("not a password"), bcryptCost)
	return h
})

// normalizeEmail trims and lower-cases an email address.
func normalizeEmail(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// validateSignUp checks a sign-up; it returns a *fieldError for the first bad field.
func validateSignUp(name, email, password string) error {
	switch {
	case strings.TrimSpace(name) == "":
		return &fieldError{"name", "Enter your name."}
	case utf8.RuneCountInString(name) > 100:
		return &fieldError{"name", "Use at most 100 characters."}
	case email == "":
		return &fieldError{"email", "Enter your email address."}
	case len(email) > 254:
		return &fieldError{"email", "Use at most 254 characters."}
	}
	if a, err := mail.ParseAddress(email); err != nil || a.Address != email || !strings.Contains(email[strings.IndexByte(email, '@'):], ".") {
		return &fieldError{"email", "Enter an email address like jane@example.com."}
	}
	switch {
	case utf8.RuneCountInString(password) < 8:
		return &fieldError{"password", "Use at least 8 characters."}
	case len(password) > 72:
		return &fieldError{"password", "Use at most 72 bytes."}
	}
	return nil
}

// createUser validates and stores a new user; it returns a *fieldError or errEmailTaken.
func createUser(ctx context.Context, db *sqlx.DB, name, email, password string, now time.Time) (user, error) {
	name, email = strings.TrimSpace(name), normalizeEmail(email)
	if err := validateSignUp(name, email, password); err != nil {
		return user{}, err
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcryptCost)
	if err != nil {
		return user{}, err
	}
	id := make([]byte, 8)
	if _, err := rand.Read(id); err != nil {
		return user{}, err
	}
	u := user{ID: "u_" + hex.EncodeToString(id), Email: email, Name: name, PasswordHash: hash, RefreshVersion: 1, CreatedAt: now.UTC()}
	_, err = db.NamedExecContext(ctx, `INSERT INTO users (id, email, name, password_hash, refresh_version, created_at)
		VALUES (:id, :email, :name, :password_hash, :refresh_version, :created_at)`, u)
	var serr *sqlite.Error
	if errors.As(err, &serr) && serr.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE {
		return user{}, errEmailTaken
	}
	if err != nil {
		return user{}, err
	}
	return u, nil
}

// checkPassword returns the user with this email and password, or errInvalidCredentials.
func checkPassword(ctx context.Context, db *sqlx.DB, email, password string) (user, error) {
	u, err := userBy(ctx, db, "email", normalizeEmail(email))
	if errors.Is(err, errNotFound) {
		_ = bcrypt.CompareHashAndPassword(dummyHash(), []byte(password))
		return user{}, errInvalidCredentials
	}
	if err != nil {
		return user{}, err
	}
	if bcrypt.CompareHashAndPassword(u.PasswordHash, []byte(password)) != nil {
		return user{}, errInvalidCredentials
	}
	return u, nil
}

// userBy returns the user whose column ("id" or "email") equals v, or errNotFound.
func userBy(ctx context.Context, db *sqlx.DB, column, v string) (user, error) {
	if column != "id" && column != "email" {
		return user{}, fmt.Errorf("userBy: bad column %q", column)
	}
	var u user
	err := db.GetContext(ctx, &u, `SELECT id, email, name, password_hash, refresh_version, created_at FROM users WHERE `+column+` = ?`, v)
	if errors.Is(err, sql.ErrNoRows) {
		return user{}, errNotFound
	}
	return u, err
}

// bumpRefreshVersion invalidates every refresh token of the user.
func bumpRefreshVersion(ctx context.Context, db *sqlx.DB, userID string) error {
	_, err := db.ExecContext(ctx, `UPDATE users SET refresh_version = refresh_version + 1 WHERE id = ?`, userID)
	return err
}
