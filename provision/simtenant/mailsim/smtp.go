package mailsim

import (
	"net"
	"strings"
)

// serveSMTP speaks SMTP submission as smtp.office365.com:587 does: STARTTLS on the plain
// connection, AUTH offered only once TLS is up, XOAUTH2 (two-step or with an initial
// response) and the replies of mailbox.md §3.2–§3.3.
func (srv *Server) serveSMTP(c net.Conn) {
	s := newSession(c)
	host := srv.opts.ServerName
	unsuccessful := "535 5.7.3 Authentication unsuccessful [" + host + "]"
	if s.write("220 "+host+" Microsoft ESMTP MAIL Service ready at "+srv.clock.Now().UTC().Format("Mon, 2 Jan 2006 15:04:05 +0000")) != nil {
		return
	}
	var tlsOn, greeted, authed bool
	for {
		line, err := s.readLine()
		if err != nil {
			if err == errLineTooLong {
				_ = s.write("500 5.3.3 Line too long")
			}
			return
		}
		verb, rest := command(line)
		var reply []string
		switch verb {
		case "EHLO":
			greeted = true
			reply = srv.ehlo(remoteIP(s.conn), tlsOn)
		case "HELO":
			greeted = true
			reply = []string{"250 " + host + " Hello [" + remoteIP(s.conn) + "]"}
		case "STARTTLS":
			if tlsOn {
				reply = []string{"503 5.5.1 TLS already active"}
				break
			}
			if s.write("220 2.0.0 SMTP server ready") != nil || srv.startTLS(s) != nil {
				return
			}
			// The client starts over with EHLO on the secured channel (RFC 3207).
			tlsOn, greeted, authed = true, false, false
			continue
		case "AUTH":
			switch {
			case !tlsOn:
				reply = []string{"504 5.7.4 Unrecognized authentication type [" + host + "]"}
			case !greeted:
				reply = []string{"503 5.5.2 Send hello first [" + host + "]"}
			case authed:
				reply = []string{"503 5.5.1 Already authenticated"}
			default:
				r, ok := srv.smtpAuth(s, rest, unsuccessful)
				if !ok {
					return
				}
				authed = r == "235 2.7.0 Authentication successful"
				reply = []string{r}
			}
		case "MAIL":
			if !authed {
				reply = []string{"530 5.7.57 Client not authenticated to send mail. [" + host + "]"}
			} else {
				reply = []string{"550 5.7.0 The simulated tenant accepts no mail: provision never sends any"}
			}
		case "RCPT", "DATA", "BDAT":
			reply = []string{"503 5.5.1 Bad sequence of commands"}
		case "RSET":
			reply = []string{"250 2.0.0 Resetting"}
		case "NOOP":
			reply = []string{"250 2.0.0 OK"}
		case "QUIT":
			_ = s.write("221 2.0.0 Service closing transmission channel")
			return
		default:
			reply = []string{"500 5.3.3 Unrecognized command"}
		}
		if s.write(reply...) != nil {
			return
		}
	}
}

// ehlo lists the extensions: STARTTLS before TLS, AUTH after it (mailbox.md §3.2 [?]).
func (srv *Server) ehlo(ip string, tlsOn bool) []string {
	ext := []string{"SIZE 157286400", "PIPELINING", "DSN", "ENHANCEDSTATUSCODES"}
	if tlsOn {
		ext = append(ext, "AUTH LOGIN XOAUTH2")
	} else {
		ext = append(ext, "STARTTLS")
	}
	ext = append(ext, "8BITMIME", "BINARYMIME", "CHUNKING", "SMTPUTF8")
	lines := []string{"250-" + srv.opts.ServerName + " Hello [" + ip + "]"}
	for i, e := range ext {
		sep := "-"
		if i == len(ext)-1 {
			sep = " "
		}
		lines = append(lines, "250"+sep+e)
	}
	return lines
}

// smtpAuth runs one AUTH command and returns the final reply; false when the connection broke.
func (srv *Server) smtpAuth(s *session, args, unsuccessful string) (string, bool) {
	mech, initial, _ := strings.Cut(args, " ")
	switch strings.ToUpper(mech) {
	case "XOAUTH2":
	case "LOGIN", "PLAIN":
		srv.record(Attempt{Protocol: SMTP, Reason: BasicAuth})
		return "535 5.7.139 Authentication unsuccessful, basic authentication is disabled. [" + srv.opts.ServerName + "]", true
	default:
		return "504 5.7.4 Unrecognized authentication type [" + srv.opts.ServerName + "]", true
	}
	// Without an initial response, the two-step form Microsoft's sample shows: an empty
	// challenge, then the blob.
	response, aborted, err := s.saslResponse(initial, "334 ")
	switch {
	case err != nil:
		return "", false
	case aborted:
		return "501 5.7.0 Authentication aborted", true
	}
	l := srv.authorize(srv.ctx, SMTP, response)
	switch l.reason {
	case Accepted:
		return "235 2.7.0 Authentication successful", true
	case SMTPAuthDisabled:
		return "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the " + l.disabledBy +
			". Visit https://aka.ms/smtp_auth_disabled for more information.", true
	}
	return unsuccessful, true
}

func remoteIP(c net.Conn) string {
	host, _, err := net.SplitHostPort(c.RemoteAddr().String())
	if err != nil {
		return c.RemoteAddr().String()
	}
	return host
}
