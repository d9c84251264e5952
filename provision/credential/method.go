// Package credential chooses and builds the azidentity credential provision signs in with, and
// knows the endpoints it talks to (Graph, Exchange, the authority host) and the token scopes
// that derive from them. Everything comes from the --auth flag and the environment, read
// through an injected getenv so tests never touch the process environment.
package credential

import (
	"fmt"
	"strings"
)

// Method is how provision signs in: the value of the --auth flag.
type Method string

// The sign-in methods. Default is the chain environment → workload identity → managed
// identity → Azure CLI, the first that is configured wins.
const (
	Default  Method = ""
	Env      Method = "env"
	Workload Method = "workload"
	Managed  Method = "managed"
	CLI      Method = "cli"
	Device   Method = "device"
	Browser  Method = "browser"
)

// Methods lists the explicit methods in the order help text shows them.
func Methods() []Method { return []Method{Env, Workload, Managed, CLI, Device, Browser} }

// ParseMethod reads an --auth value. The empty string (and "default") selects the chain.
func ParseMethod(s string) (Method, error) {
	v := strings.ToLower(strings.TrimSpace(s))
	if v == "" || v == "default" {
		return Default, nil
	}
	for _, m := range Methods() {
		if string(m) == v {
			return m, nil
		}
	}
	names := make([]string, 0, len(Methods()))
	for _, m := range Methods() {
		names = append(names, string(m))
	}
	return "", fmt.Errorf("parse --auth: unknown method %q: want one of %s, or nothing for the default chain",
		s, strings.Join(names, ", "))
}

// String returns the flag value, or "default" for the chain.
func (m Method) String() string {
	if m == Default {
		return "default"
	}
	return string(m)
}

// Describe says in words what the method uses, for doctor and errors.
func (m Method) Describe() string {
	switch m {
	case Env:
		return "environment (AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET or AZURE_CLIENT_CERTIFICATE_PATH)"
	case Workload:
		return "workload identity (AZURE_FEDERATED_TOKEN_FILE)"
	case Managed:
		return "managed identity"
	case CLI:
		return "Azure CLI (az login)"
	case Device:
		return "device code sign-in"
	case Browser:
		return "interactive browser sign-in"
	default:
		return "default chain: environment, workload identity, managed identity, Azure CLI"
	}
}
