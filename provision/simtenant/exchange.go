package simtenant

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/provisionhq/provision/provision/simtenant/exchangesim"
)

// exchangePrefix lets the Exchange admin API be served under its own base URL
// (https://host/exchange), so that its token audience differs from Graph's on the same host.
const exchangePrefix = "/exchange"

// exchangeMount is the mounted Exchange admin endpoint.
type exchangeMount struct {
	server *exchangesim.Server
}

func isExchangePath(p string) bool {
	return strings.HasPrefix(strings.TrimPrefix(p, exchangePrefix), "/adminapi/")
}

// mountExchange starts the Exchange admin endpoint over the directory's recipients and the
// Send-As state kept in the tenant state.
func (t *Tenant) mountExchange() error {
	var st exchangesim.State
	if len(t.dir.Exchange) > 0 {
		if err := json.Unmarshal(t.dir.Exchange, &st); err != nil {
			return fmt.Errorf("mount exchange: decode send-as state: %w", err)
		}
	}
	t.exchange.server = exchangesim.New(recipients{t}, &st, exchangesim.Options{
		Clock:     t.clock,
		TenantIDs: []string{t.dir.TenantID, t.dir.Domain},
	})
	return nil
}

// syncExchangeState copies the Send-As state into the directory before a save. The caller holds t.mu.
func (t *Tenant) syncExchangeState() error {
	if t.exchange.server == nil {
		return nil
	}
	b, err := json.Marshal(t.exchange.server.Snapshot())
	if err != nil {
		return fmt.Errorf("encode send-as state: %w", err)
	}
	t.dir.Exchange = b
	return nil
}

// loadExchangeState remounts Exchange over a loaded directory. The caller holds t.mu.
func (t *Tenant) loadExchangeState() error { return t.mountExchange() }

// Exchange returns the Exchange admin fake, for its own faults, stats and Send-As seeding.
func (t *Tenant) Exchange() *exchangesim.Server {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.exchange.server
}

// serveExchange authenticates an InvokeCommand call for the Exchange audience and hands it to
// exchangesim with the caller's Exchange rights.
func (t *Tenant) serveExchange(w http.ResponseWriter, r *http.Request) {
	prefix := ""
	if strings.HasPrefix(r.URL.Path, exchangePrefix+"/") {
		prefix = exchangePrefix
	}
	rq, err := t.newRequest(r, prefix)
	if t.outerFaults(w, r, rq) {
		return
	}
	if err != nil {
		resp := rq.badRequest("Unable to read the request body.")
		t.record(rq, resp, false, true)
		writeResponse(w, rq, resp)
		return
	}
	auds := []string{exchangeAppID, exchangeResourceURL, "https://" + r.Host + prefix, "https://outlook.office.com"}
	caller := exchangesim.Caller{}
	c, resp := t.authenticate(rq, auds)
	if resp == nil {
		caller = exchangesim.Caller{
			Authenticated:  true,
			ManageAsApp:    c.exoRoles[exchangeManageAsApp],
			RecipientAdmin: c.wids[roleExchangeRecipient] || c.wids[roleExchangeAdmin] || c.wids[roleGlobalAdmin],
			ExchangeAdmin:  c.wids[roleExchangeAdmin] || c.wids[roleGlobalAdmin],
			Name:           c.clientID,
		}
		rq.caller = c
	}
	if resp := t.operationFault(rq); resp != nil {
		t.record(rq, resp, false, true)
		writeResponse(w, rq, resp)
		return
	}
	t.mu.Lock()
	srv := t.exchange.server
	t.mu.Unlock()
	rec := &statusRecorder{ResponseWriter: t.exchangeAnswer(w, r), status: http.StatusOK}
	defer finishAnswer(rec.ResponseWriter)
	r2 := r.Clone(r.Context())
	r2.URL.Path = strings.TrimPrefix(r.URL.Path, prefix)
	r2.Body = http.NoBody
	if len(rq.body) > 0 {
		r2.Body = newBody(rq.body)
		r2.ContentLength = int64(len(rq.body))
		r2.Header.Del("Content-Encoding")
	}
	srv.ServeInvokeCommand(rec, r2, caller)
	t.record(rq, &response{status: rec.status}, false, true)
	if rec.status < 300 && t.onWrite != nil {
		t.onWrite()
	}
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

// recipients is the directory as Exchange sees it: users with a mailbox, mail-enabled groups.
type recipients struct{ t *Tenant }

func (d recipients) FindRecipient(identity string) (exchangesim.Recipient, bool) {
	t := d.t
	t.mu.Lock()
	defer t.mu.Unlock()
	match := func(e *entry, props ...string) bool {
		for _, p := range props {
			if v := str(e.Props[p]); v != "" && strings.EqualFold(v, identity) {
				return true
			}
		}
		for _, a := range strList(e.Props["proxyAddresses"]) {
			if _, addr, ok := strings.Cut(a, ":"); ok && strings.EqualFold(addr, identity) {
				return true
			}
		}
		return false
	}
	for _, u := range sorted(t.dir.Users) {
		if str(u.Props["mail"]) == "" || !match(u, "id", "userPrincipalName", "mail", "mailNickname", "displayName") {
			continue
		}
		return exchangesim.Recipient{
			Name: str(u.Props["mailNickname"]), DisplayName: str(u.Props["displayName"]),
			PrimarySmtpAddress: str(u.Props["mail"]), ExternalDirectoryObjectId: u.id(),
			RecipientType: "UserMailbox", RecipientTypeDetails: "UserMailbox",
			Guid: t.seedIDLocked("mailbox/" + u.id()), UserPrincipalName: str(u.Props["userPrincipalName"]),
		}, true
	}
	for _, g := range sorted(t.dir.Groups) {
		if g.Props["mailEnabled"] != true || !match(g, "id", "mail", "mailNickname", "displayName") {
			continue
		}
		return exchangesim.Recipient{
			Name: str(g.Props["mailNickname"]), DisplayName: str(g.Props["displayName"]),
			PrimarySmtpAddress: str(g.Props["mail"]), ExternalDirectoryObjectId: g.id(),
			RecipientType: "MailUniversalSecurityGroup", RecipientTypeDetails: "MailUniversalSecurityGroup",
			Guid: t.seedIDLocked("mailbox/" + g.id()),
		}, true
	}
	return exchangesim.Recipient{}, false
}
