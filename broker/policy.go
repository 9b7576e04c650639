package broker

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/protocol/webauthncose"
	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/google/uuid"

	"github.com/latchkey/latchkey/broker/sqlstore"
)

// Values of Policy.UserVerification and Policy.ResidentKey.
const (
	Preferred = "preferred"
	Required  = "required"
)

// Values of Policy.Attestation.
const (
	// AttestationNone asks for no attestation and accepts whatever statement comes.
	AttestationNone = "none"
	// AttestationDirect asks for attestation and accepts only a statement signed by an
	// attestation certificate (not "none", not self attestation).
	AttestationDirect = "direct"
)

// Bounds of the lifetimes a policy may set.
const (
	MinCeremonyLifetime = 30 * time.Second
	// MaxCeremonyLifetime is the contract's "a ceremony lives at most 5 minutes".
	MaxCeremonyLifetime = CeremonyLifetime
)

// DefaultMaxPendingCeremonies is the default cap on a project's unexpired, unfinished
// ceremonies (Config.MaxPendingCeremonies).
const DefaultMaxPendingCeremonies = 10000

// ErrTooManyCeremonies means the project has as many pending ceremonies as the broker allows;
// the web layer answers 429 rate_limited.
var ErrTooManyCeremonies = errors.New("too many pending ceremonies for this project")

// algorithms are the COSE algorithms a policy may allow, by name.
var algorithms = []struct {
	ID   int64
	Name string
}{
	{-7, "ES256"}, {-35, "ES384"}, {-36, "ES512"}, {-8, "EdDSA"}, {-257, "RS256"}, {-37, "PS256"},
}

// AlgorithmName returns the name of a COSE algorithm identifier (ES256 for -7), or the
// number as text if it is not one a policy may allow.
func AlgorithmName(id int64) string {
	for _, a := range algorithms {
		if a.ID == id {
			return a.Name
		}
	}
	return strconv.FormatInt(id, 10)
}

// ParseAlgorithm returns the COSE identifier of an algorithm given by name (ES256,
// case-insensitive) or number (-7); it fails for algorithms a policy may not allow.
func ParseAlgorithm(s string) (int64, error) {
	s = strings.TrimSpace(s)
	for _, a := range algorithms {
		if strings.EqualFold(s, a.Name) || s == strconv.FormatInt(a.ID, 10) {
			return a.ID, nil
		}
	}
	names := make([]string, len(algorithms))
	for i, a := range algorithms {
		names[i] = a.Name
	}
	return 0, fmt.Errorf("unknown algorithm %q (want one of %s)", s, strings.Join(names, ", "))
}

// Policy is a project's security policy: what its ceremonies ask authenticators for, and
// what the broker accepts from them. The broker enforces it on every ceremony; nothing in it
// is taken from the client.
type Policy struct {
	// UserVerification is "preferred" or "required". With "required", a registration or
	// login whose authenticator data lacks the UV flag is refused.
	UserVerification string `json:"userVerification"`
	// ResidentKey is "preferred" or "required" (a discoverable credential). With "required",
	// a registration whose client reports credProps.rk = false is refused; a client that does
	// not report it cannot be checked.
	ResidentKey string `json:"residentKey"`
	// Algorithms are the COSE algorithms a passkey may use, in order of preference. A passkey
	// whose algorithm is later removed can no longer sign in.
	Algorithms []int64 `json:"algorithms"`
	// Attestation is "none" or "direct" (see AttestationNone, AttestationDirect).
	Attestation string `json:"attestation"`
	// AAGUIDAllow, if not empty, lists the only authenticator models (AAGUIDs) accepted;
	// AAGUIDDeny lists models refused. At most one of them is set. They apply to registration
	// and to later logins with the passkeys registered before a change.
	AAGUIDAllow []string `json:"aaguidAllow"`
	AAGUIDDeny  []string `json:"aaguidDeny"`
	// Usernameless allows logins without an identifier: usernameless and conditional UI.
	Usernameless bool `json:"usernameless"`
	// ConnectTokenMaxLifetimeInSeconds caps maxLifetimeInSeconds of connect tokens (1 to 3600);
	// the default lifetime, 600 seconds, is lowered to it.
	ConnectTokenMaxLifetimeInSeconds int64 `json:"connectTokenMaxLifetimeInSeconds"`
	// CeremonyLifetimeInSeconds is how long a started ceremony can be finished (30 to 300).
	CeremonyLifetimeInSeconds int64 `json:"ceremonyLifetimeInSeconds"`
}

// DefaultPolicy is the policy of a new project.
func DefaultPolicy() Policy {
	return Policy{
		UserVerification:                 Preferred,
		ResidentKey:                      Preferred,
		Algorithms:                       []int64{-7, -8, -257},
		Attestation:                      AttestationNone,
		AAGUIDAllow:                      []string{},
		AAGUIDDeny:                       []string{},
		Usernameless:                     true,
		ConnectTokenMaxLifetimeInSeconds: 3600,
		CeremonyLifetimeInSeconds:        int64(CeremonyLifetime / time.Second),
	}
}

// CeremonyLifetime returns how long the project's ceremonies live.
func (p Policy) CeremonyLifetime() time.Duration {
	return time.Duration(p.CeremonyLifetimeInSeconds) * time.Second
}

// String summarises the policy on one line, for `latchkey project list`.
func (p Policy) String() string {
	names := make([]string, len(p.Algorithms))
	for i, a := range p.Algorithms {
		names[i] = AlgorithmName(a)
	}
	s := fmt.Sprintf("uv=%s rk=%s algs=%s attestation=%s", p.UserVerification, p.ResidentKey, strings.Join(names, ","), p.Attestation)
	if len(p.AAGUIDAllow) > 0 {
		s += " aaguid-allow=" + strings.Join(p.AAGUIDAllow, ",")
	}
	if len(p.AAGUIDDeny) > 0 {
		s += " aaguid-deny=" + strings.Join(p.AAGUIDDeny, ",")
	}
	return s + fmt.Sprintf(" usernameless=%v token-max=%ds ceremony=%ds", p.Usernameless, p.ConnectTokenMaxLifetimeInSeconds, p.CeremonyLifetimeInSeconds)
}

// normalize validates p and returns it with AAGUIDs in canonical form, or a *ValidationError.
func (p Policy) normalize() (Policy, error) {
	switch {
	case p.UserVerification != Preferred && p.UserVerification != Required:
		return p, &ValidationError{"userVerification", "must be preferred or required"}
	case p.ResidentKey != Preferred && p.ResidentKey != Required:
		return p, &ValidationError{"residentKey", "must be preferred or required"}
	case p.Attestation != AttestationNone && p.Attestation != AttestationDirect:
		return p, &ValidationError{"attestation", "must be none or direct"}
	case len(p.Algorithms) == 0:
		return p, &ValidationError{"algorithms", "needs at least one algorithm"}
	case len(p.AAGUIDAllow) > 0 && len(p.AAGUIDDeny) > 0:
		return p, &ValidationError{"aaguidAllow", "cannot be set together with aaguidDeny"}
	case p.ConnectTokenMaxLifetimeInSeconds < 1 || p.ConnectTokenMaxLifetimeInSeconds > 3600:
		return p, &ValidationError{"connectTokenMaxLifetimeInSeconds", "must be between 1 and 3600"}
	case p.CeremonyLifetime() < MinCeremonyLifetime || p.CeremonyLifetime() > MaxCeremonyLifetime:
		return p, &ValidationError{"ceremonyLifetimeInSeconds", fmt.Sprintf("must be between %d and %d",
			int(MinCeremonyLifetime.Seconds()), int(MaxCeremonyLifetime.Seconds()))}
	}
	seen := map[int64]bool{}
	for _, a := range p.Algorithms {
		if _, err := ParseAlgorithm(strconv.FormatInt(a, 10)); err != nil {
			return p, &ValidationError{"algorithms", err.Error()}
		}
		if seen[a] {
			return p, &ValidationError{"algorithms", "must not repeat an algorithm"}
		}
		seen[a] = true
	}
	var err error
	if p.AAGUIDAllow, err = normalizeAAGUIDs("aaguidAllow", p.AAGUIDAllow); err != nil {
		return p, err
	}
	if p.AAGUIDDeny, err = normalizeAAGUIDs("aaguidDeny", p.AAGUIDDeny); err != nil {
		return p, err
	}
	p.Algorithms = slices.Clone(p.Algorithms)
	return p, nil
}

func normalizeAAGUIDs(field string, in []string) ([]string, error) {
	out := []string{}
	for _, s := range in {
		id, err := uuid.Parse(strings.TrimSpace(s))
		if err != nil || len(strings.TrimSpace(s)) != 36 {
			return nil, &ValidationError{field, fmt.Sprintf("%q is not an AAGUID (8-4-4-4-12 hex digits)", s)}
		}
		if !slices.Contains(out, id.String()) {
			out = append(out, id.String())
		}
	}
	if len(out) > 100 {
		return nil, &ValidationError{field, "must list at most 100 AAGUIDs"}
	}
	return out, nil
}

// row returns the policy as the projects table stores it.
func (p Policy) row() sqlstore.Policy {
	return sqlstore.Policy{UserVerification: p.UserVerification, ResidentKey: p.ResidentKey, Algorithms: p.Algorithms,
		Attestation: p.Attestation, AAGUIDAllow: p.AAGUIDAllow, AAGUIDDeny: p.AAGUIDDeny, Usernameless: p.Usernameless,
		ConnectTokenMaxLifetime: p.ConnectTokenMaxLifetimeInSeconds, CeremonyLifetime: p.CeremonyLifetimeInSeconds}
}

// policyFromRow returns the policy the projects table holds, checked as SetPolicy checks it.
func policyFromRow(r sqlstore.Policy) (Policy, error) {
	p := Policy{UserVerification: r.UserVerification, ResidentKey: r.ResidentKey, Algorithms: r.Algorithms,
		Attestation: r.Attestation, AAGUIDAllow: r.AAGUIDAllow, AAGUIDDeny: r.AAGUIDDeny, Usernameless: r.Usernameless,
		ConnectTokenMaxLifetimeInSeconds: r.ConnectTokenMaxLifetime, CeremonyLifetimeInSeconds: r.CeremonyLifetime}
	p, err := p.normalize()
	if err != nil {
		return Policy{}, fmt.Errorf("bad policy column: %w", err)
	}
	return p, nil
}

// SetPolicy replaces the policy of a project and returns the project. It returns a
// *ValidationError for an invalid policy and ErrNotFound for an unknown project. Ceremonies
// already started are finished under the new policy.
func (b *Broker) SetPolicy(ctx context.Context, projectID string, p Policy) (Project, error) {
	p, err := p.normalize()
	if err != nil {
		return Project{}, err
	}
	defer b.forgetProject(projectID) // see CacheTTL
	if err := b.store.SetPolicy(ctx, projectID, p.row()); err != nil {
		return Project{}, err
	}
	return b.Project(ctx, projectID)
}

func (p Policy) userVerification() protocol.UserVerificationRequirement {
	if p.UserVerification == Required {
		return protocol.VerificationRequired
	}
	return protocol.VerificationPreferred
}

// registrationOptions are the options of append/start that the policy decides.
func (p Policy) registrationOptions() []webauthn.RegistrationOption {
	sel := protocol.AuthenticatorSelection{
		ResidentKey:        protocol.ResidentKeyRequirementPreferred,
		RequireResidentKey: protocol.ResidentKeyNotRequired(),
		UserVerification:   p.userVerification(),
	}
	if p.ResidentKey == Required {
		sel.ResidentKey, sel.RequireResidentKey = protocol.ResidentKeyRequirementRequired, protocol.ResidentKeyRequired()
	}
	params := make([]protocol.CredentialParameter, len(p.Algorithms))
	for i, a := range p.Algorithms {
		params[i] = protocol.CredentialParameter{Type: protocol.PublicKeyCredentialType, Algorithm: webauthncose.COSEAlgorithmIdentifier(a)}
	}
	conveyance := protocol.PreferNoAttestation
	if p.Attestation == AttestationDirect {
		conveyance = protocol.PreferDirectAttestation
	}
	opts := []webauthn.RegistrationOption{
		webauthn.WithAuthenticatorSelection(sel),
		webauthn.WithCredentialParameters(params),
		webauthn.WithConveyancePreference(conveyance),
	}
	if p.ResidentKey == Required {
		opts = append(opts, webauthn.WithExtensions(webauthn.WithExtensionCredProps()))
	}
	return opts
}

// checkRegistration applies the project's policy to a credential that go-webauthn verified,
// with the flags, key and attestation read again here rather than trusted to the options the
// client was given (the origin is checked before, exactly: projectConfig.checkOrigin). Every
// refusal is an ErrVerificationFailed with a client-safe detail.
func (pr Project) checkRegistration(cred *webauthn.Credential, parsed *protocol.ParsedCredentialCreationData) error {
	p := pr.Policy
	// User presence is go-webauthn's to check: required, except for conditional create.
	flags := parsed.Response.AttestationObject.AuthData.Flags
	if p.UserVerification == Required && !flags.HasUserVerified() {
		return detailf(ErrVerificationFailed, "this project requires user verification (the UV flag is not set)")
	}
	if err := p.checkKey(cred.PublicKey); err != nil {
		return err
	}
	if err := p.checkAAGUID(aaguidString(cred.Authenticator.AAGUID)); err != nil {
		return err
	}
	if p.ResidentKey == Required {
		if cp := parsed.ClientExtensionResults.CredProps; cp != nil && cp.RK != nil && !*cp.RK {
			return detailf(ErrVerificationFailed, "this project requires a discoverable credential (credProps.rk is false)")
		}
	}
	if p.Attestation == AttestationDirect {
		switch cred.AttestationType {
		case "basic_full", "attca", "anonca":
		default:
			return detailf(ErrVerificationFailed, "this project requires attestation by an attestation certificate (got %q)", cred.AttestationType)
		}
	}
	return nil
}

// checkAssertion applies the project's policy to a verified login: the flags of its
// authenticator data, and the passkey that signed it (whose model or algorithm may have been
// refused since it was registered). The origin is checked before (projectConfig.checkOrigin).
func (pr Project) checkAssertion(parsed *protocol.ParsedCredentialAssertionData, pk Passkey, usernameless bool) error {
	p := pr.Policy
	if usernameless && !p.Usernameless {
		return detailf(ErrVerificationFailed, "this project does not allow usernameless login")
	}
	flags := parsed.Response.AuthenticatorData.Flags
	if flags.HasAttestedCredentialData() {
		return detailf(ErrVerificationFailed, "an assertion must not carry attested credential data (the AT flag is set)")
	}
	if !flags.HasUserPresent() {
		return detailf(ErrVerificationFailed, "the authenticator did not confirm the user's presence")
	}
	if p.UserVerification == Required && !flags.HasUserVerified() {
		return detailf(ErrVerificationFailed, "this project requires user verification (the UV flag is not set)")
	}
	return p.checkPasskey(pk)
}

// accepts reports whether the policy lets pk sign in; login/start offers only those.
func (p Policy) accepts(pk Passkey) bool { return p.checkPasskey(pk) == nil }

func (p Policy) checkPasskey(pk Passkey) error {
	pub, err := unb64(pk.PublicKey)
	if err != nil {
		return detailf(ErrVerificationFailed, "the passkey's public key is unreadable")
	}
	if err := p.checkKey(pub); err != nil {
		return err
	}
	return p.checkAAGUID(pk.AAGUID)
}

// checkKey checks a COSE public key: that it parses as the key type its algorithm names,
// on the curve it names (a point on that curve), RSA of at least 2048 bits, and that its
// algorithm is one the policy allows.
func (p Policy) checkKey(cose []byte) error {
	key, err := webauthncose.ParsePublicKey(cose)
	if err != nil {
		return detailf(ErrVerificationFailed, "the credential public key is invalid")
	}
	var alg int64
	switch k := key.(type) {
	case webauthncose.EC2PublicKeyData:
		alg = k.Algorithm
	case webauthncose.OKPPublicKeyData:
		alg = k.Algorithm
		if alg == int64(webauthncose.AlgEd25519) {
			alg = int64(webauthncose.AlgEdDSA)
		}
	case webauthncose.RSAPublicKeyData:
		alg = k.Algorithm
		n := new(big.Int).SetBytes(k.Modulus)
		e, err := webauthncose.ParseRSAPublicKeyDataExponent(&k)
		if err != nil || n.BitLen() < 2048 || n.BitLen() > 8192 || e < 3 || e%2 == 0 {
			return detailf(ErrVerificationFailed, "the credential's RSA key is too small or invalid")
		}
	default:
		return detailf(ErrVerificationFailed, "the credential public key type is not supported")
	}
	if !slices.Contains(p.Algorithms, alg) {
		return detailf(ErrVerificationFailed, "this project does not allow the algorithm %s", AlgorithmName(alg))
	}
	return nil
}

// checkAAGUID applies the allow and deny lists to an authenticator model.
func (p Policy) checkAAGUID(aaguid string) error {
	if len(p.AAGUIDAllow) > 0 && !slices.Contains(p.AAGUIDAllow, aaguid) {
		return detailf(ErrVerificationFailed, "this project does not allow this authenticator model")
	}
	if slices.Contains(p.AAGUIDDeny, aaguid) {
		return detailf(ErrVerificationFailed, "this project does not allow this authenticator model")
	}
	return nil
}

func aaguidString(b []byte) string {
	id, err := uuid.FromBytes(b)
	if err != nil {
		return ""
	}
	return id.String()
}

// cleanTransports keeps the transports a client reported that look like transport names
// (lower-case letters, digits and '-', at most 32 bytes), at most 8 and each once, so that a
// client cannot store arbitrary data with a passkey; unknown names are kept for newer
// transports.
func cleanTransports(in []protocol.AuthenticatorTransport) []string {
	out := make([]string, 0, min(len(in), 8))
	for _, t := range in {
		s := string(t)
		if len(out) == 8 || s == "" || len(s) > 32 || slices.Contains(out, s) ||
			strings.IndexFunc(s, func(r rune) bool { return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') }) >= 0 {
			continue
		}
		out = append(out, s)
	}
	return out
}
