package graph

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
)

// classes is what the classifiers say about one error.
type classes struct {
	Status                                                  int
	ReplicationLag, AlreadyExists, NotFound, PasswordAbsent bool
}

func classify(err error) classes {
	return classes{Status: StatusCode(err), ReplicationLag: IsReplicationLag(err), AlreadyExists: IsAlreadyExists(err),
		NotFound: IsNotFound(err), PasswordAbsent: IsPasswordNotFound(err)}
}

func TestClassifyGraphErrors(t *testing.T) {
	tests := []struct {
		name, reason  string
		status        int
		code, message string
		want          classes
		wantText      string
	}{
		{name: "not found", reason: "a 404 is lag right after a create", status: 404, code: "Request_ResourceNotFound",
			message: "Resource 'x' does not exist or one of its queried reference-property objects are not present.",
			want:    classes{Status: 404, ReplicationLag: true, NotFound: true},
			wantText: "404 Request_ResourceNotFound: Resource 'x' does not exist or one of its queried reference-property objects " +
				"are not present. (request-id 9f0c1d2e-0000-4000-8000-000000000001, client-request-id 9f0c1d2e-0000-4000-8000-000000000002, date 2026-03-01T12:00:00Z)"},
		{name: "sp before app replicated", reason: "POST servicePrincipals right after the app", status: 400, code: "Request_BadRequest",
			message: "The appId 'a' of the service principal does not reference a valid application object.",
			want:    classes{Status: 400, ReplicationLag: true}},
		{name: "grant before sp replicated", reason: "POST oauth2PermissionGrants right after the SP", status: 400, code: "Request_BadRequest",
			message: "Resource 'b' does not exist or one of its queried reference-property objects are not present.",
			want:    classes{Status: 400, ReplicationLag: true}},
		{name: "assignment before principal replicated", reason: "POST appRoleAssignedTo", status: 400, code: "Request_BadRequest",
			message: "Not a valid reference update.", want: classes{Status: 400, ReplicationLag: true}},
		{name: "enabled scope", reason: "TF retries this one after a create", status: 400, code: "CannotDeleteOrUpdateEnabledEntitlement",
			message: "Permission (scope or role) cannot be deleted or updated unless disabled first.",
			want:    classes{Status: 400, ReplicationLag: true}},
		{name: "local tenant 403", reason: "the misleading 403 on SP creation", status: 403, code: "Authorization_RequestDenied",
			message: "When using this permission, the backing application of the service principal being created must in the local tenant",
			want:    classes{Status: 403, ReplicationLag: true}},
		{name: "plain 403", reason: "a real denial is not lag", status: 403, code: "Authorization_RequestDenied",
			message: "Insufficient privileges to complete the operation.", want: classes{Status: 403}},
		{name: "duplicate assignment", reason: "idempotent create", status: 400, code: "Request_BadRequest",
			message: "Permission being assigned already exists on the object.", want: classes{Status: 400, AlreadyExists: true}},
		{name: "duplicate grant", reason: "idempotent create", status: 409, code: "Request_MultipleObjectsWithSameKeyValue",
			message: "Permission entry already exists.", want: classes{Status: 409, AlreadyExists: true}},
		{name: "duplicate sp", reason: "code alone is enough", status: 409, code: "Request_MultipleObjectsWithSameKeyValue",
			message: "Another object with the same value for property appId already exists.", want: classes{Status: 409, AlreadyExists: true}},
		{name: "password gone", reason: "removePassword of an unknown key", status: 400, code: "Request_BadRequest",
			message: "No password credential found with keyId 'k'.", want: classes{Status: 400, PasswordAbsent: true}},
		{name: "validation", reason: "other 400s are permanent", status: 400, code: "Request_BadRequest",
			message: "Property 'displayName' is too long.", want: classes{Status: 400}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
				writeJSON(w, tc.status, odataError(tc.code, tc.message))
			}, Options{})
			_, err := c.Graph.Applications().ByApplicationId("x").Get(context.Background(), nil)
			if err == nil {
				t.Fatal("call succeeded")
			}
			if diff := cmp.Diff(tc.want, classify(err)); diff != "" {
				t.Errorf("classes (-want +got) (%s):\n%s", tc.reason, diff)
			}
			wrapped := Wrap(err)
			if tc.wantText != "" && wrapped.Error() != tc.wantText {
				t.Errorf("Error() =\n%s\nwant\n%s", wrapped, tc.wantText)
			}
			if diff := cmp.Diff(tc.want, classify(wrapped)); diff != "" {
				t.Errorf("classes of the wrapped error (-want +got):\n%s", diff)
			}
			if again := Wrap(wrapped); again != wrapped {
				t.Errorf("Wrap is not idempotent")
			}
		})
	}
}

func TestErrorWithoutBody(t *testing.T) {
	c, _ := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("request-id", "rid-7")
		w.WriteHeader(http.StatusBadGateway)
	}, Options{})
	_, err := c.Graph.Applications().Get(context.Background(), nil)
	if got := StatusCode(err); got != http.StatusBadGateway {
		t.Errorf("StatusCode = %d, want 502", got)
	}
	if msg := Wrap(err).Error(); !strings.HasPrefix(msg, "502 ") || !strings.Contains(msg, "rid-7") {
		t.Errorf("Error() = %q, want status and request id", msg)
	}
}

func TestErrorWithoutMessageDoesNotPanic(t *testing.T) {
	c, _ := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": map[string]any{"code": "Request_BadRequest"}})
	}, Options{})
	body := models.NewApplication()
	_, err := c.Graph.Applications().Post(context.Background(), body, nil)
	if got := Wrap(err).Error(); got != "400 Request_BadRequest: POST /v1.0/applications answered with an error without a message (request-id req-0001)" {
		t.Errorf("Error() = %q", got)
	}
}

func TestClassifiersOnForeignErrors(t *testing.T) {
	err := errors.New("dial tcp: connection refused")
	if diff := cmp.Diff(classes{}, classify(err)); diff != "" {
		t.Errorf("a transport error is classified (-want +got):\n%s", diff)
	}
	if Wrap(err) != err || Wrap(nil) != nil {
		t.Error("Wrap must leave foreign errors and nil alone")
	}
}
