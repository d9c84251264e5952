package simtenant

import (
	"fmt"
	"net/http"
)

// Error codes and messages the real service sends, as recorded in the reference (errors.json);
// clients match on the messages, so they are kept verbatim.
const (
	codeNotFound          = "Request_ResourceNotFound"
	codeBadRequest        = "Request_BadRequest"
	codeUnsupportedQuery  = "Request_UnsupportedQuery"
	codeDenied            = "Authorization_RequestDenied"
	codeDuplicate         = "Request_MultipleObjectsWithSameKeyValue"
	codeInvalidToken      = "InvalidAuthenticationToken"
	msgDenied             = "Insufficient privileges to complete the operation."
	msgDuplicateGrant     = "Permission entry already exists."
	msgDuplicateRole      = "Permission being assigned already exists on the object."
	msgNotValidReference  = "Not a valid reference update."
	msgEnabledEntitlement = "Permission (scope or role) cannot be deleted or updated unless disabled first."
)

// response is what one Graph operation answers, before it is written to the wire or folded into
// a $batch response.
type response struct {
	status int
	header http.Header
	body   any    // a JSON value, or nil for no body
	text   string // a text/plain body ($count), used when body is nil and text is set
}

func jsonResponse(status int, body any) *response {
	return &response{status: status, header: http.Header{}, body: body}
}

func noContent() *response { return &response{status: http.StatusNoContent, header: http.Header{}} }

// graphError builds the OData error envelope. message is never empty: msgraph-sdk-go dereferences it.
func (rq *request) graphError(status int, code, message string) *response {
	if message == "" {
		message = http.StatusText(status)
	}
	return jsonResponse(status, map[string]any{"error": map[string]any{
		"code":       code,
		"message":    message,
		"innerError": rq.innerError(),
	}})
}

func (rq *request) innerError() map[string]any {
	return map[string]any{
		"date":              rq.now.UTC().Format("2006-01-02T15:04:05"),
		"request-id":        rq.requestID,
		"client-request-id": rq.clientRequestID,
	}
}

func (rq *request) notFound(id string) *response {
	return rq.graphError(http.StatusNotFound, codeNotFound,
		fmt.Sprintf("Resource '%s' does not exist or one of its queried reference-property objects are not present.", id))
}

func (rq *request) badRequest(message string) *response {
	return rq.graphError(http.StatusBadRequest, codeBadRequest, message)
}

func (rq *request) denied() *response {
	return rq.graphError(http.StatusForbidden, codeDenied, msgDenied)
}

func (rq *request) unsupportedQuery(message string) *response {
	return rq.graphError(http.StatusBadRequest, codeUnsupportedQuery, message)
}

func (rq *request) methodNotAllowed() *response {
	return rq.graphError(http.StatusMethodNotAllowed, codeBadRequest, "Specified HTTP method is not allowed for the request target.")
}

// noRoute is what Graph answers for a segment it does not know.
func (rq *request) noRoute(segment string) *response {
	return rq.graphError(http.StatusBadRequest, codeBadRequest,
		fmt.Sprintf("Resource not found for the segment '%s'.", segment))
}
