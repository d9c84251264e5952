package mailsim

import (
	"net"
	"strings"
)

// imapCapability is what outlook.office365.com advertised in a capture (mailbox.md §4.2):
// XOAUTH2 with SASL-IR, no OAUTHBEARER.
const imapCapability = "* CAPABILITY IMAP4 IMAP4rev1 AUTH=PLAIN AUTH=XOAUTH2 SASL-IR UIDPLUS MOVE ID UNSELECT CHILDREN IDLE NAMESPACE LITERAL+"

// serveIMAP speaks IMAP over implicit TLS as outlook.office365.com:993 does, up to
// authentication: CAPABILITY, AUTHENTICATE XOAUTH2 (with SASL-IR or a continuation), NOOP and
// LOGOUT.
func (srv *Server) serveIMAP(c net.Conn) {
	s := newSession(c)
	if srv.startTLS(s) != nil {
		return
	}
	if s.write("* OK The Microsoft Exchange IMAP4 service is ready. "+srv.greetingTag()) != nil {
		return
	}
	authed := false
	for {
		line, err := s.readLine()
		if err != nil {
			if err == errLineTooLong {
				_ = s.write("* BAD Command Error. 10")
			}
			return
		}
		tag, rest, _ := strings.Cut(strings.TrimSpace(line), " ")
		verb, args := command(rest)
		if tag == "" || verb == "" {
			if s.write("* BAD Command Error. 10") != nil {
				return
			}
			continue
		}
		var reply []string
		switch verb {
		case "CAPABILITY":
			reply = []string{imapCapability, tag + " OK CAPABILITY completed."}
		case "NOOP":
			reply = []string{tag + " OK NOOP completed."}
		case "LOGOUT":
			_ = s.write("* BYE Microsoft Exchange Server IMAP4 server signing off.", tag+" OK LOGOUT completed.")
			return
		case "LOGIN":
			srv.record(Attempt{Protocol: IMAP, Reason: BasicAuth})
			reply = []string{tag + " NO LOGIN failed."}
		case "AUTHENTICATE":
			if authed {
				reply = []string{tag + " BAD Command received in Invalid state."}
				break
			}
			r, ok := srv.imapAuthenticate(s, tag, args)
			if !ok {
				return
			}
			authed = strings.HasPrefix(r, tag+" OK")
			reply = []string{r}
		case "SELECT", "EXAMINE", "LIST", "LSUB", "STATUS", "APPEND", "FETCH", "SEARCH", "UID", "IDLE", "NAMESPACE", "CREATE", "DELETE", "RENAME":
			if !authed {
				reply = []string{tag + " BAD Command received in Invalid state."}
			} else {
				reply = []string{tag + " NO The simulated tenant serves no mail: provision never reads any."}
			}
		default:
			reply = []string{tag + " BAD Command Error. 12"}
		}
		if s.write(reply...) != nil {
			return
		}
	}
}

// imapAuthenticate runs AUTHENTICATE and returns its tagged reply; false when the connection broke.
func (srv *Server) imapAuthenticate(s *session, tag, args string) (string, bool) {
	mech, initial, _ := strings.Cut(args, " ")
	failed := tag + " NO AUTHENTICATE failed."
	response, aborted, err := s.saslResponse(initial, "+ ")
	switch {
	case err != nil:
		return "", false
	case aborted:
		return tag + " BAD AUTHENTICATE aborted.", true
	}
	if !strings.EqualFold(mech, "XOAUTH2") {
		srv.record(Attempt{Protocol: IMAP, Reason: BasicAuth})
		return failed, true
	}
	if srv.authorize(srv.ctx, IMAP, response).reason == Accepted {
		return tag + " OK AUTHENTICATE completed.", true
	}
	return failed, true
}
