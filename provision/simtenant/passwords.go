package simtenant

import (
	"crypto/rand"
	"fmt"
	"math/big"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Password credentials work alike on applications and service principals (addPassword and
// removePassword on either); the caller has checked the right to write the owner.

const secretAlphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789~._-"

func newSecretText() string {
	b := make([]byte, 40)
	for i := range b {
		n, _ := rand.Int(rand.Reader, big.NewInt(int64(len(secretAlphabet))))
		b[i] = secretAlphabet[n.Int64()]
	}
	return string(b)
}

// addPassword answers 200 with secretText, the only time it is ever returned; the tenant keeps
// a salted hash and lists the credential first, as the service does. withHint sets hint to the
// secret's first three characters: the recordings show it on application passwords and null
// on service principal ones.
func (t *Tenant) addPassword(rq *request, owner *entry, withHint bool) *response {
	body, errResp := rq.decodeBody()
	if errResp != nil {
		return errResp
	}
	pc := asMap(body["passwordCredential"])
	start := rq.now.UTC()
	if s := str(pc["startDateTime"]); s != "" {
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return rq.badRequest("Invalid value specified for property 'startDateTime' of resource 'PasswordCredential'.")
		}
		start = v.UTC()
	}
	end := start.AddDate(2, 0, 0)
	if s := str(pc["endDateTime"]); s != "" {
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil || !v.After(start) {
			return rq.badRequest("Invalid value specified for property 'endDateTime' of resource 'PasswordCredential'.")
		}
		end = v.UTC()
	}
	secret := newSecretText()
	keyID := uuid.NewString()
	var hint any
	if withHint {
		hint = secret[:3]
	}
	stored := map[string]any{
		"customKeyIdentifier": nil, "displayName": pc["displayName"], "endDateTime": timestamp(end),
		"hint": hint, "keyId": keyID, "secretText": nil, "startDateTime": timestamp(start),
	}
	owner.Props["passwordCredentials"] = append([]any{stored}, asList(owner.Props["passwordCredentials"])...)
	t.dir.Secrets[keyID] = hashSecret(secret)
	out := cloneMap(stored)
	out["secretText"] = secret
	out["@odata.context"] = rq.base + "/$metadata#microsoft.graph.passwordCredential"
	resp := jsonResponse(http.StatusOK, out)
	resp.header.Set("Location", "https://graph.microsoft.com")
	return resp
}

// removePassword answers 204 once the credential is gone.
func (t *Tenant) removePassword(rq *request, owner *entry) *response {
	body, errResp := rq.decodeBody()
	if errResp != nil {
		return errResp
	}
	keyID := str(body["keyId"])
	if _, err := uuid.Parse(keyID); err != nil {
		return rq.badRequest("Invalid value specified for property 'keyId' of resource 'PasswordCredential'.")
	}
	creds := asList(owner.Props["passwordCredentials"])
	kept := slices.DeleteFunc(slices.Clone(creds), func(c any) bool { return strings.EqualFold(str(asMap(c)["keyId"]), keyID) })
	if len(kept) == len(creds) {
		return rq.badRequest(fmt.Sprintf("No password credential found with keyId '%s'.", keyID))
	}
	owner.Props["passwordCredentials"] = kept
	delete(t.dir.Secrets, strings.ToLower(keyID))
	delete(t.dir.Secrets, keyID)
	return noContent()
}

// forgetSecrets drops the hashes of an object's password credentials, when it is gone for good.
func (t *Tenant) forgetSecrets(e *entry) {
	for _, pc := range asList(e.Props["passwordCredentials"]) {
		delete(t.dir.Secrets, str(asMap(pc)["keyId"]))
	}
}
