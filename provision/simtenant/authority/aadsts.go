package authority

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/google/uuid"
)

// aadError is one AADSTS failure: the OAuth error, the AADSTS number and its text.
type aadError struct {
	status      int
	oauthError  string
	code        int
	description string
}

// writeError answers err in the Entra error shape. The correlation id echoes the caller's
// client-request-id, as Entra does, so a client log and the fake line up.
func (a *Authority) writeError(w http.ResponseWriter, r *http.Request, e aadError) {
	now := a.cfg.Clock.Now().UTC()
	traceID := uuid.NewString()
	correlationID := r.Header.Get("client-request-id")
	if _, err := uuid.Parse(correlationID); err != nil {
		correlationID = uuid.NewString()
	}
	stamp := now.Format("2006-01-02 15:04:05Z")
	desc := fmt.Sprintf("AADSTS%d: %s Trace ID: %s Correlation ID: %s Timestamp: %s",
		e.code, e.description, traceID, correlationID, stamp)
	writeJSON(w, e.status, map[string]any{
		"error":             e.oauthError,
		"error_description": desc,
		"error_codes":       []int{e.code},
		"timestamp":         stamp,
		"trace_id":          traceID,
		"correlation_id":    correlationID,
		"error_uri":         "https://login.microsoftonline.com/error?code=" + strconv.Itoa(e.code),
	})
}

func tenantNotFound(tenant string) aadError {
	return aadError{http.StatusBadRequest, "invalid_request", 90002, fmt.Sprintf(
		"Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. "+
			"Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant.", tenant)}
}

func noTenantInRequest() aadError {
	return aadError{http.StatusBadRequest, "invalid_request", 50059,
		"No tenant-identifying information found in either the request or implied by any provided credentials."}
}

func missingParameter(name string) aadError {
	return aadError{http.StatusBadRequest, "invalid_request", 900144,
		fmt.Sprintf("The request body must contain the following parameter: '%s'.", name)}
}

func unsupportedGrant(grant string) aadError {
	return aadError{http.StatusBadRequest, "unsupported_grant_type", 70003,
		fmt.Sprintf("The app requested an unsupported grant type '%s'.", grant)}
}

func unknownApplication(clientID, tenant string) aadError {
	return aadError{http.StatusBadRequest, "unauthorized_client", 700016, fmt.Sprintf(
		"Application with identifier '%s' was not found in the directory '%s'. This can happen if the application has not been "+
			"installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your "+
			"authentication request to the wrong tenant.", clientID, tenant)}
}

func invalidClientSecret(clientID string) aadError {
	return aadError{http.StatusUnauthorized, "invalid_client", 7000215, fmt.Sprintf(
		"Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the "+
			"client secret ID, for a secret added to app '%s'.", clientID)}
}

func missingClientCredential() aadError {
	return aadError{http.StatusUnauthorized, "invalid_client", 7000216,
		"'client_assertion', 'client_secret' or 'request' is required for the 'client_credentials' grant type."}
}

func malformedAssertion() aadError {
	return aadError{http.StatusBadRequest, "invalid_request", 50027,
		"JWT token is invalid or malformed."}
}

func assertionExpired() aadError {
	return aadError{http.StatusUnauthorized, "invalid_client", 700024,
		"Client assertion is not within its valid time range."}
}

func noFederationMatch(issuer, subject, audience string) aadError {
	return aadError{http.StatusBadRequest, "invalid_request", 70021, fmt.Sprintf(
		"No matching federated identity record found for presented assertion. Assertion Issuer: '%s'. "+
			"Assertion Subject: '%s'. Assertion Audience: '%s'.", issuer, subject, audience)}
}

func certificateNotRegistered(clientID string) aadError {
	return aadError{http.StatusUnauthorized, "invalid_client", 700027, fmt.Sprintf(
		"The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key "+
			"was not found.] Alternatively, the signature does not verify. App Id: '%s'.", clientID)}
}

func invalidScope(scope string) aadError {
	return aadError{http.StatusBadRequest, "invalid_scope", 1002012, fmt.Sprintf(
		"The provided value for scope %s is not valid. Client credential flows must have a scope value with /.default "+
			"suffixed to the resource identifier (application ID URI).", scope)}
}

func resourceNotFound(resource, tenant string) aadError {
	return aadError{http.StatusBadRequest, "invalid_resource", 500011, fmt.Sprintf(
		"The resource principal named %s was not found in the tenant named %s. This can happen if the application has not "+
			"been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent "+
			"your authentication request to the wrong tenant.", resource, tenant)}
}
