package provision

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/microsoftgraph/msgraph-sdk-go/applications"
	"github.com/microsoftgraph/msgraph-sdk-go/models"

	"github.com/provisionhq/provision/manifests"
	"github.com/provisionhq/provision/provision/clock"
	"github.com/provisionhq/provision/provision/graph"
	"github.com/provisionhq/provision/provision/sensitive"
	"github.com/provisionhq/provision/provision/sink"
)

// SecretDeps is what apply needs to deliver and check new client secrets. Planning uses none
// of it, so a plan needs no sink or identity-platform access. The CLI fills it; a library user
// applying a plan without secret changes may leave it zero.
type SecretDeps struct {
	// Sinks builds the sinks of one secret's store (sink.FromStore with the process's
	// dependencies). Apply calls it once per created or rotated secret, before addPassword, so
	// a sink that cannot work here (githubOutput outside Actions) fails before anything exists.
	Sinks func(store manifests.SecretStore) ([]sink.Sink, error)
	// Verify signs in with a new secret (client credentials against the tenant's authority) and
	// returns nil once it works. A new secret takes a while to reach every replica of the
	// identity platform, so Verify retries its "invalid secret" and "unknown application"
	// answers itself, bounded, on the engine's clock; see package verify. Its error must not
	// contain the secret.
	Verify func(ctx context.Context, tenantID, clientID string, secret sensitive.String) error
	// TenantID is the directory (tenant) id written to the sinks and signed in to.
	TenantID string
	// AuthorityHost is the identity platform, e.g. https://login.microsoftonline.com/ (the
	// default when empty); the sinks' document names <AuthorityHost>/<TenantID>.
	AuthorityHost string
	// MailScope is the client-credentials scope for IMAP/POP/SMTP written to the sinks; empty
	// means Exchange Online's public-cloud scope. The Graph scope derives from the Graph client.
	MailScope string
}

// applySecret creates, rotates or retires credentials of one secret, holding the application's
// credential lock so no other change of this process races its addPassword/removePassword.
func (e *Engine) applySecret(ctx context.Context, c *Change, st *appState) (string, error) {
	spec := c.Target.Secret
	if spec == nil {
		return "", errors.New("apply secret: the change carries no secret")
	}
	objectID := st.objectID
	if objectID == "" {
		objectID = spec.ApplicationID
	}
	if objectID == "" {
		return "", errors.New("apply secret: the application's object id is unknown")
	}
	unlock := e.locks.Lock(objectID)
	defer unlock()
	if c.Action == Delete {
		for _, id := range spec.Retire {
			if err := e.removePassword(ctx, objectID, id, st.freshApp); err != nil {
				return "", fmt.Errorf("retire credential %s: %w", id, err)
			}
		}
		return strings.Join(spec.Retire, ","), nil
	}
	return e.rotateSecret(ctx, objectID, st, spec)
}

// rotateSecret adds a credential, writes it to every sink, verifies it and retires the older
// ones the plan lists. At every step a consumer reading any sink holds a credential that
// works: the old ones stay until the new one is everywhere and signs in.
func (e *Engine) rotateSecret(ctx context.Context, objectID string, st *appState, spec *SecretSpec) (string, error) {
	deps := e.Secrets
	switch {
	case deps.Sinks == nil || deps.Verify == nil:
		return "", errors.New("create secret: secret delivery is not configured (Engine.Secrets needs Sinks and Verify)")
	case deps.TenantID == "":
		return "", errors.New("create secret: the tenant id for the sinks is unknown (Engine.Secrets.TenantID)")
	case st.appID == "":
		return "", errors.New("create secret: the application's appId is unknown")
	}
	sinks, err := deps.Sinks(spec.Store)
	if err != nil {
		return "", fmt.Errorf("prepare sinks: %w", err)
	}

	started := e.secretClock().Now().UTC().Truncate(time.Second)
	name, end := spec.Name, started.Add(spec.Lifetime)
	pc := models.NewPasswordCredential()
	pc.SetDisplayName(&name)
	pc.SetEndDateTime(&end)
	body := applications.NewItemAddPasswordPostRequestBody()
	body.SetPasswordCredential(pc)
	var created models.PasswordCredentialable
	err = e.retry(ctx, st.freshApp, func(ctx context.Context) error {
		var err error
		created, err = e.Graph.Graph.Applications().ByApplicationId(objectID).AddPassword().Post(ctx, body, nil)
		return err
	})
	if err != nil {
		return "", e.addPasswordFailed(ctx, objectID, spec, started, err)
	}
	keyID := uuidStr(created.GetKeyId())
	secret := sensitive.New(str(created.GetSecretText()))
	created.SetSecretText(nil)
	if secret.IsZero() {
		err := errors.New("create secret: Graph answered without a secretText")
		if rerr := e.removePassword(ctx, objectID, keyID, true); rerr != nil {
			return "", fmt.Errorf("%w; removing the credential failed too, remove keyId %s yourself: %w", err, keyID, rerr)
		}
		return "", err
	}

	cred := sink.Credential{
		TenantID:    deps.TenantID,
		ClientID:    st.appID,
		KeyID:       keyID,
		DisplayName: name,
		Secret:      secret,
		Hint:        str(created.GetHint()),
		CreatedAt:   started,
		ExpiresAt:   end,
		Authority:   strings.TrimSuffix(cmp.Or(deps.AuthorityHost, sink.DefaultAuthorityHost), "/") + "/" + deps.TenantID,
		GraphScope:  strings.TrimSuffix(e.Graph.BaseURL, "/") + "/.default",
		MailScope:   deps.MailScope,
	}
	if t := created.GetStartDateTime(); t != nil {
		cred.CreatedAt = t.UTC()
	}
	if t := created.GetEndDateTime(); t != nil {
		cred.ExpiresAt = t.UTC()
	}
	if err := sink.WriteAll(ctx, sinks, cred.WithDefaults()); err != nil {
		return "", scrub(e.deliveryFailed(ctx, objectID, keyID, err), secret)
	}
	if err := deps.Verify(ctx, deps.TenantID, st.appID, secret); err != nil {
		return "", scrub(fmt.Errorf("verify new credential %s: %w; it is in every sink and nothing was retired, run provision rotate again to retire the older credentials once it signs in", keyID, err), secret)
	}
	for _, id := range spec.Retire {
		if err := e.removePassword(ctx, objectID, id, false); err != nil {
			return "", fmt.Errorf("retire credential %s (the new credential %s is delivered and verified; run provision rotate again to finish): %w", id, keyID, err)
		}
	}
	return keyID, nil
}

// addPasswordFailed explains a refused addPassword, and cleans up after one whose outcome is
// unknown (no answer, or a 5xx): the credential may exist, with a value nobody received.
func (e *Engine) addPasswordFailed(ctx context.Context, objectID string, spec *SecretSpec, started time.Time, err error) error {
	ge, ok := graph.AsError(err)
	switch {
	case ok && ge.Status == http.StatusBadRequest && isLifetimePolicy(ge):
		return fmt.Errorf("create secret: the tenant's app management policy does not allow a client secret valid for %s; set a lifetime the policy allows in the manifest (Graph said: %s): %w",
			manifests.Duration(spec.Lifetime), ge.Message, err)
	case ok && strings.Contains(ge.Message, "size of the object has exceeded its limit"):
		return fmt.Errorf("create secret: the application holds as many credentials as Entra allows; remove unused ones: %w", err)
	case ok && ge.Status > 0 && ge.Status < http.StatusInternalServerError:
		return fmt.Errorf("create secret: %w", err)
	}
	orphans, ferr := e.orphans(ctx, objectID, spec, started)
	if ferr != nil {
		return fmt.Errorf("create secret: %w; whether Graph created it is unknown and reading the application failed (%v): if a credential named %q appeared, remove it, then run provision rotate --force", err, ferr, spec.Name)
	}
	var left []string
	for _, id := range orphans {
		if rerr := e.removePassword(ctx, objectID, id, true); rerr != nil {
			left = append(left, id)
		}
	}
	if len(left) > 0 {
		return fmt.Errorf("create secret: %w; a credential was created whose value was lost and removing it failed: remove keyId %s yourself", err, strings.Join(left, ", "))
	}
	return fmt.Errorf("create secret: %w", err)
}

// isLifetimePolicy reports an addPassword refused by an app management policy
// (CredentialInvalidLifetimeAsPerAppPolicy: "Credential lifetime exceeds the max value allowed
// as per assigned policy").
func isLifetimePolicy(e *graph.Error) bool {
	text := strings.ToLower(e.Code + " " + e.Message + " " + strings.Join(e.Details, " "))
	return strings.Contains(text, "asperapppolicy") || (strings.Contains(text, "lifetime") && strings.Contains(text, "policy"))
}

// orphans lists credentials of spec's name that the plan did not see and that started with or
// after this attempt: made by an addPassword whose answer was lost. (A minute of slack covers
// clock skew with the service.)
func (e *Engine) orphans(ctx context.Context, objectID string, spec *SecretSpec, started time.Time) ([]string, error) {
	var app models.Applicationable
	err := e.retry(ctx, false, func(ctx context.Context) error {
		var err error
		app, err = e.Graph.Graph.Applications().ByApplicationId(objectID).Get(ctx, &applications.ApplicationItemRequestBuilderGetRequestConfiguration{
			QueryParameters: &applications.ApplicationItemRequestBuilderGetQueryParameters{Select: []string{"id", "passwordCredentials"}}})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("read credentials: %w", err)
	}
	var out []string
	for _, p := range app.GetPasswordCredentials() {
		id := uuidStr(p.GetKeyId())
		if str(p.GetDisplayName()) != spec.Name || slices.ContainsFunc(spec.Known, func(k string) bool { return strings.EqualFold(k, id) }) {
			continue
		}
		if s := p.GetStartDateTime(); s != nil && s.Before(started.Add(-time.Minute)) {
			continue
		}
		out = append(out, id)
	}
	return out, nil
}

// deliveryFailed handles a sink that refused the new credential. If no sink holds it any more
// (nothing written, or every written one reverted), the credential is removed again and the
// tenant is as before. If one that cannot be undone holds it (a Key Vault version, a command
// that ran, a step output), removing it would leave that sink with a dead value, so it is kept:
// every sink then holds a working credential, the new one or an old one.
func (e *Engine) deliveryFailed(ctx context.Context, objectID, keyID string, err error) error {
	var we *sink.WriteError
	var held []string
	if errors.As(err, &we) {
		for _, w := range we.Written {
			if !slices.Contains(we.Reverted, w) {
				held = append(held, w)
			}
		}
	}
	if len(held) > 0 {
		return fmt.Errorf("deliver new credential %s: %w; %s already hold(s) it and cannot be reverted, so it was kept and nothing was retired: fix %s, then run provision rotate --force to deliver one secret everywhere",
			keyID, err, strings.Join(held, ", "), we.Sink)
	}
	if rerr := e.removePassword(ctx, objectID, keyID, true); rerr != nil {
		return fmt.Errorf("deliver new credential: %w; removing it again failed too, remove credential keyId %s yourself: %w", err, keyID, rerr)
	}
	return fmt.Errorf("deliver new credential: %w; the new credential was removed again and the existing ones are unchanged", err)
}

// removePassword removes one credential; one already gone is success. Right after its
// addPassword (fresh), "not found" is replication lag and is retried, bounded, first.
func (e *Engine) removePassword(ctx context.Context, objectID, keyID string, fresh bool) error {
	id, err := uuid.Parse(keyID)
	if err != nil {
		return fmt.Errorf("remove credential: keyId %q: %w", keyID, err)
	}
	body := applications.NewItemRemovePasswordPostRequestBody()
	body.SetKeyId(&id)
	err = e.Graph.Retry(ctx, func(ctx context.Context) error {
		return e.Graph.Graph.Applications().ByApplicationId(objectID).RemovePassword().Post(ctx, body, nil)
	}, func(err error) bool { return fresh && (graph.IsReplicationLag(err) || graph.IsPasswordNotFound(err)) })
	if err == nil || graph.IsPasswordNotFound(err) {
		return nil
	}
	return fmt.Errorf("remove credential: %w", graph.Wrap(err))
}

// scrub replaces err by its text with value masked, in the unlikely case a dependency echoed
// it; otherwise err is returned unchanged (and keeps its chain).
func scrub(err error, value sensitive.String) error {
	if err == nil || value.IsZero() || !strings.Contains(err.Error(), value.Reveal()) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), value.Reveal(), sensitive.Mask))
}

// secretClock is the clock a secret's dates are computed on: the Graph client's, so a test's
// fake clock governs expiry and retries alike.
func (e *Engine) secretClock() clock.Clock {
	if c := e.Graph.Clock(); c != nil {
		return c
	}
	return clock.Real{}
}
