package verify

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/smtp"
	"net/textproto"
	"strings"
	"time"
)

// mailTimeout bounds one login conversation when the context sets no deadline.
const mailTimeout = 30 * time.Second

// protocol is one mail login verify knows how to try.
type protocol struct {
	name     string // smtp, imap, pop: the check's kind
	label    string // SMTP, IMAP, POP: in sentences
	role     string // the application role it needs
	endpoint func(Endpoints) string
	login    func(ctx context.Context, r *run, addr, mailbox, token string) loginResult
}

var (
	smtpProtocol = protocol{name: "smtp", label: "SMTP", role: RoleSMTP, endpoint: func(e Endpoints) string { return e.SMTP }, login: smtpLogin}
	imapProtocol = protocol{name: "imap", label: "IMAP", role: RoleIMAP, endpoint: func(e Endpoints) string { return e.IMAP }, login: imapLogin}
	popProtocol  = protocol{name: "pop", label: "POP", role: RolePOP, endpoint: func(e Endpoints) string { return e.POP }, login: popLogin}
)

// loginResult is how a login ended: authenticated, refused with the server's reply, or not
// tried to the end (err: unreachable, TLS, an answer that is not the service's).
type loginResult struct {
	ok        bool
	reply     string
	err       error
	noXOAUTH2 bool
}

// xoauth2 is the SASL XOAUTH2 initial response (mailbox.md §4.4).
func xoauth2(user, token string) []byte {
	return []byte("user=" + user + "\x01auth=Bearer " + token + "\x01\x01")
}

// dial opens a connection bounded by ctx (or mailTimeout), over TLS when tlsOn.
func (r *run) dial(ctx context.Context, addr string, tlsOn bool) (net.Conn, string, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, "", fmt.Errorf("mail endpoint %q is not host:port", addr)
	}
	var c net.Conn
	if tlsOn {
		c, err = (&tls.Dialer{NetDialer: r.Dialer, Config: r.tlsConfig(host)}).DialContext(ctx, "tcp", addr)
	} else {
		c, err = r.Dialer.DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		return nil, "", fmt.Errorf("connect to %s: %w", addr, err)
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(mailTimeout)
	}
	_ = c.SetDeadline(deadline)
	context.AfterFunc(ctx, func() { _ = c.Close() })
	return c, host, nil
}

// tlsConfig is the mail TLS config for host: the Checker's (trusting the simulator's CA, say)
// or the system roots, with SNI set.
func (r *run) tlsConfig(host string) *tls.Config {
	cfg := &tls.Config{}
	if r.TLS != nil {
		cfg = r.TLS.Clone()
	}
	if cfg.ServerName == "" {
		cfg.ServerName = host
	}
	if cfg.MinVersion == 0 {
		cfg.MinVersion = tls.VersionTLS12 // Exchange Online requires 1.2 (mailbox.md §3.2)
	}
	return cfg
}

// smtpLogin runs EHLO, STARTTLS, EHLO, AUTH XOAUTH2 in its two-step form, then QUIT.
func smtpLogin(ctx context.Context, r *run, addr, mailbox, token string) loginResult {
	conn, host, err := r.dial(ctx, addr, false)
	if err != nil {
		return loginResult{err: err}
	}
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		_ = conn.Close()
		return loginResult{err: fmt.Errorf("read the SMTP greeting of %s: %w", addr, err)}
	}
	defer c.Close()
	if err := c.Hello("localhost"); err != nil {
		return loginResult{err: fmt.Errorf("EHLO to %s: %w", addr, err)}
	}
	if ok, _ := c.Extension("STARTTLS"); !ok {
		return loginResult{err: fmt.Errorf("%s does not offer STARTTLS", addr)}
	}
	if err := c.StartTLS(r.tlsConfig(host)); err != nil {
		return loginResult{err: fmt.Errorf("STARTTLS with %s: %w", addr, err)}
	}
	if ok, mechs := c.Extension("AUTH"); !ok || !hasWord(mechs, "XOAUTH2") {
		return loginResult{noXOAUTH2: true, reply: "AUTH " + mechs}
	}
	err = c.Auth(&smtpAuth{user: mailbox, token: token})
	var te *textproto.Error
	switch {
	case err == nil:
		_ = c.Quit()
		return loginResult{ok: true, reply: "235 authenticated"}
	case errors.As(err, &te):
		// net/smtp has answered "*" and sent QUIT already.
		return loginResult{reply: fmt.Sprintf("%d %s", te.Code, te.Msg)}
	}
	return loginResult{err: fmt.Errorf("AUTH XOAUTH2 with %s: %w", addr, err)}
}

// smtpAuth is XOAUTH2 for net/smtp in Microsoft's two-step form: a bare AUTH XOAUTH2, the blob
// after the 334 (an access token is too long for the 512-octet command line, mailbox.md §3.2).
type smtpAuth struct {
	user, token string
	sent        bool
}

// Start refuses a connection without TLS: net/smtp leaves that check to each Auth.
func (a *smtpAuth) Start(si *smtp.ServerInfo) (string, []byte, error) {
	if !si.TLS {
		return "", nil, errors.New("refusing to send a token without TLS")
	}
	return "XOAUTH2", nil, nil
}

// Next sends the blob on the first challenge and an empty answer to an error challenge, so
// the server ends the exchange with its failure reply.
func (a *smtpAuth) Next(_ []byte, more bool) ([]byte, error) {
	if !more {
		return nil, nil
	}
	if !a.sent {
		a.sent = true
		return xoauth2(a.user, a.token), nil
	}
	return []byte{}, nil
}

// lineConn reads and writes CRLF lines.
type lineConn struct {
	c net.Conn
	r *textproto.Reader
}

func (l lineConn) send(line string) error {
	_, err := l.c.Write([]byte(line + "\r\n"))
	return err
}

// imapLogin runs CAPABILITY, AUTHENTICATE XOAUTH2 (SASL-IR when offered) and LOGOUT.
func imapLogin(ctx context.Context, r *run, addr, mailbox, token string) loginResult {
	conn, _, err := r.dial(ctx, addr, true)
	if err != nil {
		return loginResult{err: err}
	}
	defer conn.Close()
	l := lineConn{c: conn, r: textproto.NewReader(bufio.NewReader(conn))}
	greeting, err := l.r.ReadLine()
	if err != nil || !strings.HasPrefix(greeting, "* OK") {
		return loginResult{err: fmt.Errorf("read the IMAP greeting of %s: %q %v", addr, greeting, err)}
	}
	caps, err := l.imapCommand("A1", "CAPABILITY", nil)
	if err != nil {
		return loginResult{err: fmt.Errorf("CAPABILITY to %s: %w", addr, err)}
	}
	capLine := strings.Join(caps, " ")
	if !hasWord(capLine, "AUTH=XOAUTH2") {
		return loginResult{noXOAUTH2: true, reply: strings.TrimSpace(capLine)}
	}
	blob := base64.StdEncoding.EncodeToString(xoauth2(mailbox, token))
	cmd, cont := "AUTHENTICATE XOAUTH2 "+blob, []string{""}
	if !hasWord(capLine, "SASL-IR") {
		cmd, cont = "AUTHENTICATE XOAUTH2", []string{blob, ""}
	}
	lines, err := l.imapCommand("A2", cmd, cont)
	if err != nil {
		return loginResult{err: fmt.Errorf("AUTHENTICATE to %s: %w", addr, err)}
	}
	final := lines[len(lines)-1]
	_, _ = l.imapCommand("A3", "LOGOUT", nil)
	return loginResult{ok: strings.HasPrefix(final, "A2 OK"), reply: final}
}

// imapCommand sends tag+cmd and reads up to the tagged reply, answering each "+"
// continuation with the next of cont (an error challenge gets the empty answer).
func (l lineConn) imapCommand(tag, cmd string, cont []string) ([]string, error) {
	if err := l.send(tag + " " + cmd); err != nil {
		return nil, err
	}
	var lines []string
	for {
		line, err := l.r.ReadLine()
		if err != nil {
			return lines, err
		}
		switch {
		case strings.HasPrefix(line, "+"):
			answer := ""
			if len(cont) > 0 {
				answer, cont = cont[0], cont[1:]
			}
			if err := l.send(answer); err != nil {
				return lines, err
			}
		case strings.HasPrefix(line, tag+" "):
			return append(lines, line), nil
		default:
			lines = append(lines, line)
		}
	}
}

// popLogin runs CAPA, the two-line AUTH XOAUTH2 and QUIT.
func popLogin(ctx context.Context, r *run, addr, mailbox, token string) loginResult {
	conn, _, err := r.dial(ctx, addr, true)
	if err != nil {
		return loginResult{err: err}
	}
	defer conn.Close()
	l := lineConn{c: conn, r: textproto.NewReader(bufio.NewReader(conn))}
	greeting, err := l.r.ReadLine()
	if err != nil || !strings.HasPrefix(greeting, "+OK") {
		return loginResult{err: fmt.Errorf("read the POP greeting of %s: %q %v", addr, greeting, err)}
	}
	if err := l.send("CAPA"); err != nil {
		return loginResult{err: err}
	}
	first, err := l.r.ReadLine()
	if err != nil {
		return loginResult{err: fmt.Errorf("CAPA to %s: %w", addr, err)}
	}
	if strings.HasPrefix(first, "+OK") {
		caps, err := l.r.ReadDotLines()
		if err != nil {
			return loginResult{err: fmt.Errorf("CAPA to %s: %w", addr, err)}
		}
		if sasl := saslLine(caps); !hasWord(sasl, "XOAUTH2") {
			return loginResult{noXOAUTH2: true, reply: sasl}
		}
	}
	reply, err := l.popAuth(base64.StdEncoding.EncodeToString(xoauth2(mailbox, token)))
	if err != nil {
		return loginResult{err: fmt.Errorf("AUTH XOAUTH2 with %s: %w", addr, err)}
	}
	if l.send("QUIT") == nil {
		_, _ = l.r.ReadLine()
	}
	return loginResult{ok: strings.HasPrefix(reply, "+OK"), reply: reply}
}

// popAuth sends AUTH XOAUTH2, the blob after the continuation, and an empty answer to an
// error challenge; it returns the final reply.
func (l lineConn) popAuth(blob string) (string, error) {
	if err := l.send("AUTH XOAUTH2"); err != nil {
		return "", err
	}
	answers := []string{blob, ""}
	for {
		line, err := l.r.ReadLine()
		if err != nil {
			return "", err
		}
		if !strings.HasPrefix(line, "+ ") && line != "+" {
			return line, nil
		}
		answer := ""
		if len(answers) > 0 {
			answer, answers = answers[0], answers[1:]
		}
		if err := l.send(answer); err != nil {
			return "", err
		}
	}
}

func saslLine(caps []string) string {
	for _, c := range caps {
		if strings.HasPrefix(strings.ToUpper(c), "SASL") {
			return c
		}
	}
	return ""
}

func hasWord(s, word string) bool {
	for _, w := range strings.Fields(s) {
		if strings.EqualFold(w, word) {
			return true
		}
	}
	return false
}
