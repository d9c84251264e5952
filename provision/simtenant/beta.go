package simtenant

import (
	"fmt"
	"net/http"
	"strings"
)

// The tenant serves a sliver of Graph's /beta: the reads and updates of applications and
// service principals that other tools make on every run (terraform-provider-azuread reads
// samlMetadataUrl and oauth2RequirePostResponse from beta after each v1.0 read, and sets the
// latter through beta). They share the v1.0 objects; the beta-only properties are stored with
// them and selectable on /beta only. Any other /beta call gets the JSON error envelope.

const betaPrefix = "/beta"

func (rq *request) beta() bool { return rq.prefix == betaPrefix }

// betaProperties are the beta-only properties of each kind the tenant serves on /beta, with
// the value an object has when nothing set them.
func betaProperties(k *kind) map[string]any {
	switch k.typeName {
	case "servicePrincipal":
		return map[string]any{"samlMetadataUrl": nil}
	}
	return nil
}

// betaServes reports whether a /beta request is one the tenant answers: a read of the
// applications or service principals collection, or a read or update of one of them.
func betaServes(rq *request, segs []seg) bool {
	if !is(segs[0], "applications") && !is(segs[0], "servicePrincipals") || len(segs) > 1 {
		return false
	}
	return rq.method == http.MethodGet || rq.method == http.MethodPatch && segs[0].keyed
}

func (rq *request) betaNotServed() *response {
	return rq.graphError(http.StatusBadRequest, "BadRequest", fmt.Sprintf(
		"The simulated tenant does not serve %s %s%s: it serves /v1.0, and on /beta only reads and updates of applications and service principals.",
		rq.method, rq.prefix, rq.path))
}

// betaProperty resolves a beta-only property name of k, for a /beta request.
func (rq *request) betaProperty(k *kind, name string) (string, bool) {
	if !rq.beta() {
		return "", false
	}
	for p := range betaProperties(k) {
		if strings.EqualFold(p, name) {
			return p, true
		}
	}
	return "", false
}
