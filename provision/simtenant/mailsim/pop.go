package mailsim

import (
	"net"
	"strings"
)

// servePOP speaks POP3 over implicit TLS as outlook.office365.com:995 does, up to
// authentication: CAPA, AUTH XOAUTH2 (the two-line form of mailbox.md §4.3, or with an initial
// response), NOOP and QUIT.
func (srv *Server) servePOP(c net.Conn) {
	s := newSession(c)
	if srv.startTLS(s) != nil {
		return
	}
	if s.write("+OK The Microsoft Exchange POP3 service is ready. "+srv.greetingTag()) != nil {
		return
	}
	authed, user := false, false
	for {
		line, err := s.readLine()
		if err != nil {
			if err == errLineTooLong {
				_ = s.write("-ERR Protocol error. 14")
			}
			return
		}
		verb, args := command(line)
		var reply []string
		switch verb {
		case "CAPA":
			reply = []string{"+OK", "TOP", "UIDL", "SASL PLAIN XOAUTH2", "USER", "."}
		case "NOOP":
			reply = []string{"+OK"}
		case "QUIT":
			_ = s.write("+OK Microsoft Exchange Server POP3 server signing off.")
			return
		case "USER":
			user = true
			reply = []string{"+OK"}
		case "PASS":
			if !user {
				reply = []string{"-ERR Command is not valid in this state."}
				break
			}
			srv.record(Attempt{Protocol: POP, Reason: BasicAuth})
			reply = []string{"-ERR Logon failure: unknown user name or bad password."}
		case "AUTH":
			if authed {
				reply = []string{"-ERR Command is not valid in this state."}
				break
			}
			r, ok := srv.popAuth(s, args)
			if !ok {
				return
			}
			authed = strings.HasPrefix(r, "+OK")
			reply = []string{r}
		case "STAT", "LIST", "RETR", "DELE", "TOP", "UIDL", "RSET":
			if !authed {
				reply = []string{"-ERR Command is not valid in this state."}
			} else {
				reply = []string{"-ERR The simulated tenant serves no mail: provision never reads any."}
			}
		default:
			reply = []string{"-ERR Protocol error. 14"}
		}
		if s.write(reply...) != nil {
			return
		}
	}
}

// popAuth runs AUTH and returns its final reply; false when the connection broke.
func (srv *Server) popAuth(s *session, args string) (string, bool) {
	failed := "-ERR Authentication failure: unknown user name or bad password."
	mech, initial, _ := strings.Cut(args, " ")
	if mech == "" {
		return "-ERR Protocol error. 14", true
	}
	response, aborted, err := s.saslResponse(initial, "+ ")
	switch {
	case err != nil:
		return "", false
	case aborted:
		return "-ERR Authentication canceled.", true
	}
	if !strings.EqualFold(mech, "XOAUTH2") {
		srv.record(Attempt{Protocol: POP, Reason: BasicAuth})
		return failed, true
	}
	if srv.authorize(srv.ctx, POP, response).reason == Accepted {
		return "+OK User successfully authenticated.", true
	}
	return failed, true
}
