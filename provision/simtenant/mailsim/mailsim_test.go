package mailsim_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/google/go-cmp/cmp"
	"github.com/microsoftgraph/msgraph-sdk-go/applications"
	"github.com/microsoftgraph/msgraph-sdk-go/models"

	"github.com/provisionhq/provision/provision/simtenant"
	"github.com/provisionhq/provision/provision/simtenant/exchangesim"
	"github.com/provisionhq/provision/provision/simtenant/mailsim"
	"github.com/provisionhq/provision/provision/simtenant/simtest"
)

const (
	exchangeAppID = "00000002-0000-0ff1-ce00-000000000000"
	mailbox       = "admin@office.openfire.pro"
)

// mailApp is an application of the simulated tenant with a client secret.
type mailApp struct {
	ids    simtenant.PortalIDs
	secret string
}

// newMailApp registers an application holding the given Office 365 Exchange Online roles,
// consented, with a client secret.
func newMailApp(t *testing.T, f *simtest.Fixture, roles ...string) mailApp {
	t.Helper()
	ids, err := f.Tenant.SeedPortalApp(simtenant.PortalApp{DisplayName: "OpenFire",
		Application: map[string][]string{exchangeAppID: roles}, AdminConsent: true})
	if err != nil {
		t.Fatal(err)
	}
	name := "OpenFire Mail"
	end := f.Clock.Now().Add(30 * 24 * time.Hour)
	pw := models.NewPasswordCredential()
	pw.SetDisplayName(&name)
	pw.SetEndDateTime(&end)
	body := applications.NewItemAddPasswordPostRequestBody()
	body.SetPasswordCredential(pw)
	cred, err := f.Graph.Graph.Applications().ByApplicationId(ids.ObjectID).AddPassword().Post(context.Background(), body, nil)
	if err != nil {
		t.Fatalf("add password: %v", err)
	}
	return mailApp{ids: ids, secret: *cred.GetSecretText()}
}

// token signs the application in anew (azidentity caches on the wall clock) for scope.
func (a mailApp) token(t *testing.T, f *simtest.Fixture, scope string) string {
	t.Helper()
	cred, err := f.SecretCredential(f.TenantID, a.ids.AppID, a.secret)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{scope}})
	if err != nil {
		t.Fatalf("get token for %s: %v", scope, err)
	}
	return tok.Token
}

// ready registers the application in Exchange with its enterprise app's object id, grants it
// FullAccess on the mailbox and turns SMTP AUTH on for it: every precondition met.
func (a mailApp) ready(t *testing.T, f *simtest.Fixture) {
	t.Helper()
	exo := f.Tenant.Exchange()
	exo.RegisterServicePrincipal(a.ids.AppID, a.ids.ServicePrincipalID, "OpenFire")
	if err := exo.SeedMailboxPermission(mailbox, exchangesimFullAccess(a.ids.AppID)); err != nil {
		t.Fatal(err)
	}
	enabled := false
	if err := exo.SetSMTPAuth(mailbox, &enabled); err != nil {
		t.Fatal(err)
	}
}

// wire is a raw protocol conversation, so the tests see the replies verbatim.
type wire struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func dial(t *testing.T, addr string, tlsConfig *tls.Config) *wire {
	t.Helper()
	var c net.Conn
	var err error
	if tlsConfig != nil {
		c, err = tls.Dial("tcp", addr, tlsConfig)
	} else {
		c, err = net.Dial("tcp", addr)
	}
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	return &wire{t: t, c: c, r: bufio.NewReader(c)}
}

func (w *wire) line() string {
	w.t.Helper()
	l, err := w.r.ReadString('\n')
	if err != nil {
		w.t.Fatalf("read: %v (after %q)", err, l)
	}
	return strings.TrimRight(l, "\r\n")
}

func (w *wire) send(l string) {
	w.t.Helper()
	if _, err := w.c.Write([]byte(l + "\r\n")); err != nil {
		w.t.Fatalf("write: %v", err)
	}
}

// smtpReply reads a (multi-line) SMTP reply and returns its lines.
func (w *wire) smtpReply() []string {
	w.t.Helper()
	var out []string
	for {
		l := w.line()
		out = append(out, l)
		if len(l) < 4 || l[3] != '-' {
			return out
		}
	}
}

// until reads lines up to and including the first that starts with prefix.
func (w *wire) until(prefix string) []string {
	w.t.Helper()
	var out []string
	for {
		l := w.line()
		out = append(out, l)
		if strings.HasPrefix(l, prefix) {
			return out
		}
	}
}

func (w *wire) startTLS(cfg *tls.Config) {
	tc := tls.Client(w.c, cfg)
	if err := tc.Handshake(); err != nil {
		w.t.Fatalf("TLS handshake: %v", err)
	}
	w.c, w.r = tc, bufio.NewReader(tc)
}

func blob(user, token string) string {
	return base64.StdEncoding.EncodeToString([]byte("user=" + user + "\x01auth=Bearer " + token + "\x01\x01"))
}

func clientTLS(f *simtest.Fixture) *tls.Config {
	c := f.Transport.TLSClientConfig.Clone()
	c.ServerName = "127.0.0.1"
	return c
}

// smtpLogin runs EHLO, STARTTLS, EHLO, AUTH XOAUTH2 (two-step) and QUIT; it returns the AUTH reply.
func smtpLogin(t *testing.T, m *mailsim.Server, cfg *tls.Config, user, token string) string {
	t.Helper()
	w := dial(t, m.SMTPAddr, nil)
	if g := w.smtpReply(); !strings.HasPrefix(g[0], "220 ") || !strings.Contains(g[0], "Microsoft ESMTP MAIL Service ready") {
		t.Fatalf("greeting %q", g)
	}
	w.send("EHLO client.example")
	if ehlo := strings.Join(w.smtpReply(), "\n"); !strings.Contains(ehlo, "250-STARTTLS") || strings.Contains(ehlo, "AUTH") {
		t.Errorf("EHLO before TLS: %q, want STARTTLS and no AUTH", ehlo)
	}
	w.send("AUTH XOAUTH2")
	if r := w.smtpReply(); !strings.HasPrefix(r[0], "504 5.7.4 Unrecognized authentication type") {
		t.Errorf("AUTH before TLS: %q", r)
	}
	w.send("STARTTLS")
	if r := w.smtpReply(); r[0] != "220 2.0.0 SMTP server ready" {
		t.Fatalf("STARTTLS: %q", r)
	}
	w.startTLS(cfg)
	w.send("EHLO client.example")
	if ehlo := strings.Join(w.smtpReply(), "\n"); !strings.Contains(ehlo, "250-AUTH LOGIN XOAUTH2") || strings.Contains(ehlo, "STARTTLS") {
		t.Errorf("EHLO after TLS: %q, want AUTH and no STARTTLS", ehlo)
	}
	w.send("AUTH XOAUTH2")
	if r := w.smtpReply(); r[0] != "334 " {
		t.Fatalf("AUTH XOAUTH2: %q, want the empty 334 challenge", r)
	}
	w.send(blob(user, token))
	reply := w.smtpReply()[0]
	w.send("MAIL FROM:<" + user + ">")
	mail := w.smtpReply()[0]
	if strings.HasPrefix(reply, "235") != strings.HasPrefix(mail, "550") || !strings.HasPrefix(mail, "5") {
		t.Errorf("MAIL FROM after AUTH %q: %q, want 550 (never sends) after success, 530 5.7.57 before", reply, mail)
	}
	w.send("QUIT")
	if r := w.smtpReply(); !strings.HasPrefix(r[0], "221 ") {
		t.Errorf("QUIT: %q", r)
	}
	return reply
}

// imapLogin runs CAPABILITY, AUTHENTICATE XOAUTH2 with SASL-IR and LOGOUT; it returns the
// tagged AUTHENTICATE reply.
func imapLogin(t *testing.T, m *mailsim.Server, cfg *tls.Config, user, token string) string {
	t.Helper()
	w := dial(t, m.IMAPAddr, cfg)
	if g := w.line(); !strings.HasPrefix(g, "* OK The Microsoft Exchange IMAP4 service is ready.") {
		t.Fatalf("greeting %q", g)
	}
	w.send("A01 CAPABILITY")
	if c := w.until("A01 "); !strings.Contains(c[0], "AUTH=XOAUTH2") || !strings.Contains(c[0], "SASL-IR") || c[1] != "A01 OK CAPABILITY completed." {
		t.Errorf("CAPABILITY: %q", c)
	}
	w.send("A02 AUTHENTICATE XOAUTH2 " + blob(user, token))
	reply := w.until("A02 ")
	w.send("A03 LOGOUT")
	if r := w.until("A03 "); r[len(r)-1] != "A03 OK LOGOUT completed." {
		t.Errorf("LOGOUT: %q", r)
	}
	return reply[len(reply)-1]
}

// popLogin runs CAPA, the two-line AUTH XOAUTH2 and QUIT; it returns the AUTH reply.
func popLogin(t *testing.T, m *mailsim.Server, cfg *tls.Config, user, token string) string {
	t.Helper()
	w := dial(t, m.POPAddr, cfg)
	if g := w.line(); !strings.HasPrefix(g, "+OK The Microsoft Exchange POP3 service is ready.") {
		t.Fatalf("greeting %q", g)
	}
	w.send("CAPA")
	if c := w.until("."); !strings.Contains(strings.Join(c, "\n"), "SASL PLAIN XOAUTH2") {
		t.Errorf("CAPA: %q", c)
	}
	w.send("AUTH XOAUTH2")
	if r := w.line(); r != "+ " {
		t.Fatalf("AUTH XOAUTH2: %q, want the + continuation", r)
	}
	w.send(blob(user, token))
	reply := w.line()
	w.send("QUIT")
	if r := w.line(); !strings.HasPrefix(r, "+OK") {
		t.Errorf("QUIT: %q", r)
	}
	return reply
}

const (
	smtpOK      = "235 2.7.0 Authentication successful"
	smtpFail    = "535 5.7.3 Authentication unsuccessful [" + mailsim.DefaultServerName + "]"
	smtpTenant  = "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. Visit https://aka.ms/smtp_auth_disabled for more information."
	smtpMailbox = "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Mailbox. Visit https://aka.ms/smtp_auth_disabled for more information."
	imapOK      = "A02 OK AUTHENTICATE completed."
	imapFail    = "A02 NO AUTHENTICATE failed."
	popOK       = "+OK User successfully authenticated."
	popFail     = "-ERR Authentication failure: unknown user name or bad password."
)

var allRoles = []string{"SMTP.SendAsApp", "IMAP.AccessAsApp", "POP.AccessAsApp"}

// TestLoginsAcceptExactlyWhenExchangeWould turns one precondition off at a time and checks
// the replies on the wire and the reason the listeners recorded.
func TestLoginsAcceptExactlyWhenExchangeWould(t *testing.T) {
	type want struct{ smtp, imap, pop string }
	cases := []struct {
		reason  string
		roles   []string
		setup   func(t *testing.T, f *simtest.Fixture, a mailApp) // after ready
		noReady bool                                              // skip ready: start from a bare tenant
		user    string
		graph   bool // use a Graph token
		want    want
		reasons []mailsim.Reason // SMTP, IMAP, POP
	}{
		{reason: "every precondition met", want: want{smtpOK, imapOK, popOK},
			reasons: []mailsim.Reason{mailsim.Accepted, mailsim.Accepted, mailsim.Accepted}},
		{reason: "SMTP AUTH follows the organisation, which disables it (the default)", setup: func(t *testing.T, f *simtest.Fixture, a mailApp) {
			if err := f.Tenant.Exchange().SetSMTPAuth(mailbox, nil); err != nil {
				t.Fatal(err)
			}
		}, want: want{smtpTenant, imapOK, popOK}, reasons: []mailsim.Reason{mailsim.SMTPAuthDisabled, mailsim.Accepted, mailsim.Accepted}},
		{reason: "SMTP AUTH off for the mailbox, on for the organisation", setup: func(t *testing.T, f *simtest.Fixture, a mailApp) {
			disabled := true
			f.Tenant.Exchange().SetOrganizationSMTPAuth(false)
			if err := f.Tenant.Exchange().SetSMTPAuth(mailbox, &disabled); err != nil {
				t.Fatal(err)
			}
		}, want: want{smtpMailbox, imapOK, popOK}, reasons: []mailsim.Reason{mailsim.SMTPAuthDisabled, mailsim.Accepted, mailsim.Accepted}},
		{reason: "the service principal is not registered in Exchange", noReady: true, setup: func(t *testing.T, f *simtest.Fixture, a mailApp) {
			f.Tenant.Exchange().SetOrganizationSMTPAuth(false)
		}, want: want{smtpFail, imapFail, popFail}, reasons: []mailsim.Reason{mailsim.NoServicePrincipal, mailsim.NoServicePrincipal, mailsim.NoServicePrincipal}},
		{reason: "registered with the app registration's object id, the classic mistake", noReady: true, setup: func(t *testing.T, f *simtest.Fixture, a mailApp) {
			exo := f.Tenant.Exchange()
			exo.SetOrganizationSMTPAuth(false)
			exo.RegisterServicePrincipal(a.ids.AppID, a.ids.ObjectID, "OpenFire")
			if err := exo.SeedMailboxPermission(mailbox, exchangesimFullAccess(a.ids.AppID)); err != nil {
				t.Fatal(err)
			}
		}, want: want{smtpFail, imapFail, popFail}, reasons: []mailsim.Reason{mailsim.WrongObjectID, mailsim.WrongObjectID, mailsim.WrongObjectID}},
		{reason: "no FullAccess on the mailbox", setup: func(t *testing.T, f *simtest.Fixture, a mailApp) {
			if _, err := f.Tenant.Exchange().RevokeMailboxPermissions(mailbox, a.ids.AppID); err != nil {
				t.Fatal(err)
			}
		}, want: want{smtpFail, imapFail, popFail}, reasons: []mailsim.Reason{mailsim.NoFullAccess, mailsim.NoFullAccess, mailsim.NoFullAccess}},
		{reason: "a Deny FullAccess entry wins over the grant", setup: func(t *testing.T, f *simtest.Fixture, a mailApp) {
			seed := exchangesimFullAccess(a.ids.AppID)
			seed.Deny = true
			if err := f.Tenant.Exchange().SeedMailboxPermission(mailbox, seed); err != nil {
				t.Fatal(err)
			}
		}, want: want{smtpFail, imapFail, popFail}, reasons: []mailsim.Reason{mailsim.NoFullAccess, mailsim.NoFullAccess, mailsim.NoFullAccess}},
		{reason: "SMTP.SendAsApp not consented", roles: []string{"IMAP.AccessAsApp", "POP.AccessAsApp"},
			want: want{smtpFail, imapOK, popOK}, reasons: []mailsim.Reason{mailsim.MissingRole, mailsim.Accepted, mailsim.Accepted}},
		{reason: "IMAP turned off for the mailbox", setup: func(t *testing.T, f *simtest.Fixture, a mailApp) {
			if err := f.Tenant.Exchange().SetProtocols(mailbox, false, true); err != nil {
				t.Fatal(err)
			}
		}, want: want{smtpOK, imapFail, popOK}, reasons: []mailsim.Reason{mailsim.Accepted, mailsim.ProtocolDisabled, mailsim.Accepted}},
		{reason: "propagation still running", setup: func(t *testing.T, f *simtest.Fixture, a mailApp) {
			f.Mail.SetPropagationDelay(time.Hour)
		}, want: want{smtpFail, imapFail, popFail}, reasons: []mailsim.Reason{mailsim.Propagating, mailsim.Propagating, mailsim.Propagating}},
		{reason: "a mailbox that does not exist", user: "nobody@office.openfire.pro",
			want: want{smtpFail, imapFail, popFail}, reasons: []mailsim.Reason{mailsim.UnknownMailbox, mailsim.UnknownMailbox, mailsim.UnknownMailbox}},
		{reason: "a Graph token instead of an Exchange one", graph: true,
			want: want{smtpFail, imapFail, popFail}, reasons: []mailsim.Reason{mailsim.InvalidToken, mailsim.InvalidToken, mailsim.InvalidToken}},
	}
	for _, tc := range cases {
		t.Run(tc.reason, func(t *testing.T) {
			f := simtest.Start(t, simtest.Mail())
			roles := tc.roles
			if roles == nil {
				roles = allRoles
			}
			a := newMailApp(t, f, roles...)
			if !tc.noReady {
				a.ready(t, f)
			}
			if tc.setup != nil {
				tc.setup(t, f, a)
			}
			user := tc.user
			if user == "" {
				user = mailbox
			}
			scope := f.Server.URL + "/exchange/.default"
			if tc.graph {
				scope = f.Server.URL + "/.default"
			}
			tok := a.token(t, f, scope)
			cfg := clientTLS(f)
			got := want{smtpLogin(t, f.Mail, cfg, user, tok), imapLogin(t, f.Mail, cfg, user, tok), popLogin(t, f.Mail, cfg, user, tok)}
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(want{})); diff != "" {
				t.Errorf("replies (-want +got):\n%s", diff)
			}
			var reasons []mailsim.Reason
			for _, at := range f.Mail.Attempts() {
				reasons = append(reasons, at.Reason)
				if at.Mailbox != user {
					t.Errorf("attempt %+v names another mailbox than %s", at, user)
				}
			}
			if diff := cmp.Diff(tc.reasons, reasons); diff != "" {
				t.Errorf("reasons (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPropagationEndsOnTheTenantClock(t *testing.T) {
	f := simtest.Start(t, simtest.Mail())
	a := newMailApp(t, f, allRoles...)
	a.ready(t, f)
	f.Mail.SetPropagationDelay(45 * time.Minute)
	f.Clock.Advance(44 * time.Minute)
	tok := a.token(t, f, f.Server.URL+"/exchange/.default")
	if got := imapLogin(t, f.Mail, clientTLS(f), mailbox, tok); got != imapFail {
		t.Errorf("44 minutes after the grant: %q, want a refusal", got)
	}
	f.Clock.Advance(time.Minute)
	if got := imapLogin(t, f.Mail, clientTLS(f), mailbox, tok); got != imapOK {
		t.Errorf("45 minutes after the grant: %q, want success", got)
	}
}

func TestExpiredAndTamperedTokens(t *testing.T) {
	f := simtest.Start(t, simtest.Mail())
	a := newMailApp(t, f, allRoles...)
	a.ready(t, f)
	tok := a.token(t, f, f.Server.URL+"/exchange/.default")
	parts := strings.Split(tok, ".")
	tampered := parts[0] + "." + parts[1] + "." + strings.Repeat("A", len(parts[2]))
	if got := popLogin(t, f.Mail, clientTLS(f), mailbox, tampered); got != popFail {
		t.Errorf("a bad signature: %q", got)
	}
	f.Clock.Advance(time.Hour + 6*time.Minute) // past expiry and the 5 minutes of skew
	if got := popLogin(t, f.Mail, clientTLS(f), mailbox, tok); got != popFail {
		t.Errorf("an expired token: %q", got)
	}
	for _, at := range f.Mail.Attempts() {
		if at.Reason != mailsim.InvalidToken {
			t.Errorf("attempt %+v, want invalid_token", at)
		}
	}
}

func TestBasicAuthIsRefused(t *testing.T) {
	f := simtest.Start(t, simtest.Mail())
	w := dial(t, f.Mail.SMTPAddr, nil)
	w.smtpReply()
	w.send("EHLO x")
	w.smtpReply()
	w.send("STARTTLS")
	w.smtpReply()
	w.startTLS(clientTLS(f))
	w.send("EHLO x")
	w.smtpReply()
	w.send("AUTH LOGIN")
	if r := w.smtpReply()[0]; !strings.HasPrefix(r, "535 5.7.139 Authentication unsuccessful, basic authentication is disabled.") {
		t.Errorf("SMTP AUTH LOGIN: %q", r)
	}
	iw := dial(t, f.Mail.IMAPAddr, clientTLS(f))
	iw.line()
	iw.send("a LOGIN admin secret")
	if r := iw.line(); r != "a NO LOGIN failed." {
		t.Errorf("IMAP LOGIN: %q", r)
	}
	pw := dial(t, f.Mail.POPAddr, clientTLS(f))
	pw.line()
	pw.send("USER admin")
	pw.line()
	pw.send("PASS secret")
	if r := pw.line(); r != "-ERR Logon failure: unknown user name or bad password." {
		t.Errorf("POP PASS: %q", r)
	}
	if got := len(f.Mail.Attempts()); got != 3 {
		t.Errorf("%d attempts recorded, want the three password logins", got)
	}
}

// TestCancelledAuthenticationIsAnsweredAndRecordsNoAttempt covers the two-step SASL exchange
// on each protocol: the server sends its empty challenge, the client answers "*", and the
// server answers with the protocol's own "aborted" reply without counting a login attempt.
func TestCancelledAuthenticationIsAnsweredAndRecordsNoAttempt(t *testing.T) {
	f := simtest.Start(t, simtest.Mail())
	w := dial(t, f.Mail.SMTPAddr, nil)
	w.smtpReply()
	w.send("EHLO x")
	w.smtpReply()
	w.send("STARTTLS")
	w.smtpReply()
	w.startTLS(clientTLS(f))
	w.send("EHLO x")
	w.smtpReply()
	w.send("AUTH XOAUTH2")
	if r := w.smtpReply()[0]; r != "334 " {
		t.Fatalf("SMTP AUTH XOAUTH2: %q, want the empty 334 challenge", r)
	}
	w.send("*")
	if r := w.smtpReply()[0]; r != "501 5.7.0 Authentication aborted" {
		t.Errorf("SMTP cancel: %q", r)
	}
	iw := dial(t, f.Mail.IMAPAddr, clientTLS(f))
	iw.line()
	iw.send("a AUTHENTICATE XOAUTH2")
	if r := iw.line(); r != "+ " {
		t.Fatalf("IMAP AUTHENTICATE XOAUTH2: %q, want the empty + challenge", r)
	}
	iw.send("*")
	if r := iw.line(); r != "a BAD AUTHENTICATE aborted." {
		t.Errorf("IMAP cancel: %q", r)
	}
	pw := dial(t, f.Mail.POPAddr, clientTLS(f))
	pw.line()
	pw.send("AUTH XOAUTH2")
	if r := pw.line(); r != "+ " {
		t.Fatalf("POP AUTH XOAUTH2: %q, want the empty + challenge", r)
	}
	pw.send("*")
	if r := pw.line(); r != "-ERR Authentication canceled." {
		t.Errorf("POP cancel: %q", r)
	}
	if got := f.Mail.Attempts(); len(got) != 0 {
		t.Errorf("attempts %+v, want none for cancelled exchanges", got)
	}
}

func TestEnvNamesTheEndpoints(t *testing.T) {
	f := simtest.Start(t, simtest.Mail())
	want := []string{"PROVISION_SMTP_ENDPOINT=" + f.Mail.SMTPAddr, "PROVISION_IMAP_ENDPOINT=" + f.Mail.IMAPAddr, "PROVISION_POP_ENDPOINT=" + f.Mail.POPAddr}
	if diff := cmp.Diff(want, f.Mail.Env()); diff != "" {
		t.Errorf("Env (-want +got):\n%s", diff)
	}
	for _, addr := range []string{f.Mail.SMTPAddr, f.Mail.IMAPAddr, f.Mail.POPAddr} {
		if host, _, _ := net.SplitHostPort(addr); host != "127.0.0.1" {
			t.Errorf("%s is not on loopback", addr)
		}
	}
}

func exchangesimFullAccess(appID string) exchangesim.PermissionSeed {
	return exchangesim.PermissionSeed{User: appID}
}
