package simtenant

import (
	"encoding/json"
	"net/http"
)

// cloudMetadataPath is where Azure Resource Manager publishes a cloud's endpoints
// (GET /metadata/endpoints?api-version=2022-09-01). Tools that support custom clouds read it
// from a host they are given (terraform's azuread and azurerm providers take it from
// ARM_METADATA_HOSTNAME, the Azure CLI from `az cloud register --endpoint-resource-manager`),
// so answering it here lets them find the simulated tenant's Graph and identity platform.
const cloudMetadataPath = "/metadata/endpoints"

// serveCloudMetadata answers the metadata document of a cloud whose every endpoint is this
// host. Key Vault keeps its public DNS suffix: vault hosts are routed here by name.
func (t *Tenant) serveCloudMetadata(w http.ResponseWriter, r *http.Request) {
	rq, _ := t.newRequest(r, "")
	if r.Method != http.MethodGet {
		resp := rq.methodNotAllowed()
		t.record(rq, resp, false, true)
		writeResponse(w, rq, resp)
		return
	}
	base := "https://" + r.Host
	doc := map[string]any{
		"name":   "ProvisionSimulatedTenant",
		"portal": base,
		"authentication": map[string]any{
			"loginEndpoint":    base,
			"audiences":        []string{base + "/"},
			"tenant":           "common",
			"identityProvider": "AAD",
		},
		"graph":                    base + "/",
		"graphAudience":            base + "/",
		"microsoftGraphResourceId": base + "/",
		"resourceManager":          base + "/",
		"suffixes": map[string]any{
			"keyVaultDns": keyVaultDNSSuffix,
			"mhsmDns":     "managedhsm.azure.net",
		},
	}
	t.record(rq, &response{status: http.StatusOK}, false, true)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_ = json.NewEncoder(w).Encode(doc)
}
