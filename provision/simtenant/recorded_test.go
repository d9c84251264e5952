package simtenant

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// The recorded-traffic conformance test replays real Microsoft Graph traffic, recorded by the
// Azure CLI's tests against a real tenant (testdata/recorded, see its README), against a fresh
// simulated tenant per recording, and scores each call in provision's scope on its status and on
// its top-level response keys (for a collection, those of its first item).
//
// The rules, from the recordings' README:
//   - every recorded id, appId and keyId is replaced by the live value the simulator returned in
//     the same place of the same interaction;
//   - calls outside provision's scope are sent (their answer must still be Graph's JSON error
//     envelope or a success) but not scored;
//   - calls that depend on tenant data the simulator never had (an object made by an
//     out-of-scope call, a pre-existing object it does not seed) are reported apart;
//   - where the current documentation disagrees with a recording, the documentation wins and
//     the change is written down below (documentedChanges).
//
// A response key the simulator sends that the recording lacks is accepted only when the current
// v1.0 schema (testdata/graph-schemas.json, from Microsoft's CSDL) defines it on that type: a
// property added since 2022. A key of the recording the simulator lacks is always a miss.

// recordedThreshold is the share of scored calls that must match both status and keys (or
// be a documented change): all of them.
const recordedThreshold = 1.0

// recording is one file of testdata/recorded: the Graph interactions of one Azure CLI test.
type recording struct {
	Interactions []interaction `json:"interactions"`
}

type interaction struct {
	Method         string          `json:"method"`
	URL            string          `json:"url"`
	RequestBody    json.RawMessage `json:"requestBody"`
	ResponseStatus int             `json:"responseStatus"`
	ResponseBody   any             `json:"responseBody"`
}

// scopeRoute is a route provision reads or writes, or that other tools need from the simulator.
type scopeRoute struct {
	methods string
	route   *regexp.Regexp
}

// inScopeRoutes are provision's scope: applications and service principals with their
// passwords, owners, assignments and grants; grants; reads of users and groups; a user's
// manager; deleted items; getByIds.
func inScopeRoutes() []scopeRoute {
	return []scopeRoute{
		{"GET POST", regexp.MustCompile(`^/(applications|servicePrincipals)$`)},
		{"GET PATCH DELETE", regexp.MustCompile(`^/(applications|servicePrincipals)/[^/]+$`)},
		{"POST", regexp.MustCompile(`^/(applications|servicePrincipals)/[^/]+/(addPassword|removePassword)$`)},
		{"GET", regexp.MustCompile(`^/(applications|servicePrincipals)/[^/]+/owners$`)},
		{"POST", regexp.MustCompile(`^/(applications|servicePrincipals)/[^/]+/owners/\$ref$`)},
		{"DELETE", regexp.MustCompile(`^/(applications|servicePrincipals)/[^/]+/owners/[^/]+/\$ref$`)},
		{"GET POST DELETE", regexp.MustCompile(`^/servicePrincipals/[^/]+/(appRoleAssignedTo|appRoleAssignments)(/[^/]+)?$`)},
		{"GET", regexp.MustCompile(`^/servicePrincipals/[^/]+/oauth2PermissionGrants$`)},
		{"GET POST PATCH DELETE", regexp.MustCompile(`^/oauth2PermissionGrants(/[^/]+)?$`)},
		{"GET", regexp.MustCompile(`^/(users|groups)(/[^/]+)?$`)},
		{"GET", regexp.MustCompile(`^/users/[^/]+/manager$`)},
		{"GET DELETE", regexp.MustCompile(`^/directory/deletedItems(/[^/]+)?$`)},
		{"POST", regexp.MustCompile(`^/directory/deletedItems/[^/]+/restore$`)},
		{"POST", regexp.MustCompile(`^/directoryObjects/getByIds$`)},
	}
}

func (r *replayer) inScope(method, path string) bool {
	for _, sr := range r.scope {
		if strings.Contains(sr.methods, method) && sr.route.MatchString(path) {
			return true
		}
	}
	return false
}

// documentedChange is where the replay departs from a recording because the service changed
// since 2022, with the source that says so. Rewrites are applied to every later request of the
// recording, as a client written today would send them.
type documentedChange struct {
	recording string
	reason    string
	rewrite   map[string]string // recorded text → what is sent instead ({tenant} is the tenant id)
}

func documentedChanges() []documentedChange {
	return []documentedChange{{
		recording: "azure-cli-test_service_principal_scenario.json",
		reason: "identifier URIs of the form api://{string} are refused since 2022 (HostNameNotOnVerifiedDomain, " +
			"learn.microsoft.com/entra/identity-platform/identifier-uri-restrictions, reference graph.md and " +
			"simulator-fidelity.md §4.12); the replay uses the allowed api://{tenantId}/{string}, in the create and in " +
			"the later lookup by servicePrincipalNames (TestRecordedIdentifierURIRule checks the refusal itself)",
		rewrite: map[string]string{"api://azure-cli-test000001": "api://{tenant}/azure-cli-test000001"},
	}}
}

// wellKnownIDs are ids that are the same in every tenant: first-party application ids.
func wellKnownIDs() []string { return []string{graphAppID, exchangeAppID} }

// guidPattern finds GUIDs in URLs and bodies.
func guidPattern() *regexp.Regexp {
	return regexp.MustCompile(`[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}`)
}

// callClass is how one recorded call counts.
type callClass int

const (
	scored     callClass = iota
	outOfScope           // not a route provision uses
	dependent            // needs tenant data the simulator never had
)

type callResult struct {
	index    int
	class    callClass
	why      string // for dependent calls
	statusOK bool
	keysOK   bool
	detail   string
}

// TestRecordedCopyMatchesReference keeps testdata/recorded equal to the shared reference it
// was copied from, where that folder is beside the repository (not in every clone).
func TestRecordedCopyMatchesReference(t *testing.T) {
	ref := filepath.Join("..", "..", "..", "shared", "reference", "recorded")
	want, err := filepath.Glob(filepath.Join(ref, "*.json"))
	if err != nil || len(want) == 0 {
		t.Skipf("no shared reference at %s", ref)
	}
	for _, path := range want {
		a, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join("testdata", "recorded", filepath.Base(path)))
		if err != nil || string(a) != string(b) {
			t.Errorf("testdata/recorded/%s differs from %s (or is missing: %v): copy it again", filepath.Base(path), path, err)
		}
	}
}

// TestRecordedIdentifierURIRule checks the documented change the replay works around: the
// recorded create with identifierUris api://azure-cli-test000001 is refused today.
func TestRecordedIdentifierURIRule(t *testing.T) {
	r := newReplayer(t)
	status, got := r.send(http.MethodPost, "/v1.0/applications", `{"displayName":"azure-cli-test000001","identifierUris":["api://azure-cli-test000001"],"keyCredentials":[]}`)
	if code := str(asMap(asMap(got)["error"])["code"]); status != http.StatusBadRequest || code != "HostNameNotOnVerifiedDomain" {
		t.Errorf("create with api://{string}: %d %s, want 400 HostNameNotOnVerifiedDomain", status, abbreviate(got))
	}
}

func TestRecordedTraffic(t *testing.T) {
	files, err := filepath.Glob("testdata/recorded/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no recordings in testdata/recorded: %v", err)
	}
	var total, statusOK, keysOK, apart, out int
	for _, file := range files {
		name := filepath.Base(file)
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var rec recording
		if err := json.Unmarshal(b, &rec); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		results := replayRecording(t, name, rec)
		for _, r := range results {
			switch r.class {
			case outOfScope:
				out++
			case dependent:
				apart++
				t.Logf("%s #%d %s %s: not scored: %s", name, r.index, rec.Interactions[r.index].Method, shortURL(rec.Interactions[r.index].URL), r.why)
			case scored:
				total++
				if r.statusOK {
					statusOK++
				}
				if r.statusOK && r.keysOK {
					keysOK++
				}
				if !r.statusOK || !r.keysOK {
					t.Errorf("%s #%d %s %s: %s", name, r.index, rec.Interactions[r.index].Method, shortURL(rec.Interactions[r.index].URL), r.detail)
				}
			}
		}
	}
	t.Logf("recorded traffic: %d calls in scope scored: %d status matches (%.1f%%), %d status and keys matches (%.1f%%); "+
		"%d calls depend on data the simulator never had; %d calls out of scope",
		total, statusOK, pct(statusOK, total), keysOK, pct(keysOK, total), apart, out)
	if total == 0 || float64(keysOK)/float64(total) < recordedThreshold {
		t.Errorf("conformance %.1f%% is below the threshold %.0f%%", pct(keysOK, total), recordedThreshold*100)
	}
}

func pct(n, d int) float64 {
	if d == 0 {
		return 0
	}
	return 100 * float64(n) / float64(d)
}

func shortURL(u string) string {
	u = strings.TrimPrefix(u, "https://graph.microsoft.com")
	if len(u) > 120 {
		return u[:120] + "…"
	}
	return u
}

// replayer holds one recording's replay: the recorded → live substitutions learned so far,
// the ids the simulator has returned, and the strings only out-of-scope calls made.
type replayer struct {
	t       *testing.T
	f       *fixture
	token   string
	subst   map[string]string
	live    map[string]bool
	created map[string]bool // ids of the objects the recording created
	tainted map[string]bool
	schema  map[string]map[string]bool // type → v1.0 property names
	scope   []scopeRoute
	guids   *regexp.Regexp
}

func newReplayer(t *testing.T) *replayer {
	f := newFixture(t, Options{PageSize: 100})
	tid, cid, secret := f.tenant.OperatorCredentials()
	tok, err := f.credential(tid, cid, secret).GetToken(ctx(t), tokenOpts(f.srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	r := &replayer{t: t, f: f, token: tok.Token, subst: map[string]string{}, live: map[string]bool{},
		created: map[string]bool{}, tainted: map[string]bool{}, schema: schemaProperties(t),
		scope: inScopeRoutes(), guids: guidPattern()}
	for _, id := range wellKnownIDs() {
		r.live[id] = true
	}
	// The Azure CLI's tests ran signed in as the tenant's administrator, whom the recorder
	// scrubbed to example@example.com; the simulated tenant's administrator stands in.
	r.subst["example@example.com"] = "admin@" + DefaultDomain
	return r
}

func replayRecording(t *testing.T, name string, rec recording) []callResult {
	r := newReplayer(t)
	for _, dc := range documentedChanges() {
		if dc.recording != name {
			continue
		}
		t.Logf("%s: documented change: %s", name, dc.reason)
		for from, to := range dc.rewrite {
			r.subst[from] = strings.ReplaceAll(to, "{tenant}", r.f.tenant.TenantID())
		}
	}
	var out []callResult
	for i, it := range rec.Interactions {
		out = append(out, r.replay(i, it))
	}
	return out
}

func (r *replayer) replay(i int, it interaction) callResult {
	res := callResult{index: i}
	rawURL := r.apply(strings.TrimPrefix(it.URL, "https://graph.microsoft.com"))
	path, _, _ := strings.Cut(strings.TrimPrefix(rawURL, "/v1.0"), "?")
	body := ""
	if len(it.RequestBody) > 0 && string(it.RequestBody) != "null" {
		body = r.apply(string(it.RequestBody))
	}
	if !r.inScope(it.Method, path) {
		res.class = outOfScope
		r.taint(it)
	} else if why := r.dependsOnMissingData(rawURL, body); why != "" {
		res.class, res.why = dependent, why
	}
	status, got := r.send(it.Method, rawURL, body)
	if status >= 400 {
		if msg := checkErrorEnvelope(got); msg != "" {
			r.t.Errorf("#%d %s %s: %d answer is not Graph's error envelope: %s", i, it.Method, shortURL(it.URL), status, msg)
		}
	}
	if res.class == scored {
		if why := r.listsUnseededObject(it.ResponseBody, got); why != "" {
			res.class, res.why = dependent, why
		}
	}
	if it.Method == http.MethodPost && it.ResponseStatus == http.StatusCreated {
		r.created[str(asMap(it.ResponseBody)["id"])] = true
	}
	if status == it.ResponseStatus {
		r.learn(it.ResponseBody, got)
	}
	if it.Method == http.MethodPost && path == "/applications" && status == http.StatusCreated {
		r.ownAsRecorded(str(asMap(got)["id"]))
	}
	if res.class != scored {
		return res
	}
	res.statusOK = status == it.ResponseStatus
	if !res.statusOK {
		res.detail = fmt.Sprintf("status %d, recorded %d; answer %s", status, it.ResponseStatus, abbreviate(got))
		return res
	}
	res.keysOK, res.detail = r.compareKeys(it.ResponseBody, got)
	return res
}

// ownAsRecorded gives a new application the owner the recorded create gave it. The Azure CLI
// signed in as a user, and a user's create makes that user the owner; the replay signs in as
// the operator application, whose create makes the operator the owner instead. The change goes
// through the owner routes and is not scored.
func (r *replayer) ownAsRecorded(appObjectID string) {
	admin, ok := r.f.tenant.UserID("admin@" + DefaultDomain)
	if !ok {
		r.t.Fatal("no seeded administrator")
	}
	owners := "/v1.0/applications/" + appObjectID + "/owners"
	if status, got := r.send(http.MethodPost, owners+"/$ref", `{"@odata.id":"https://graph.microsoft.com/v1.0/directoryObjects/`+admin+`"}`); status != http.StatusNoContent {
		r.t.Fatalf("add the administrator as owner: %d %s", status, abbreviate(got))
	}
	op := r.f.tenant.operatorSP()
	if status, got := r.send(http.MethodDelete, owners+"/"+op+"/$ref", ""); status != http.StatusNoContent {
		r.t.Fatalf("remove the operator as owner: %d %s", status, abbreviate(got))
	}
}

// apply replaces recorded values by their live counterparts, longest first.
func (r *replayer) apply(s string) string {
	from := make([]string, 0, len(r.subst))
	for k := range r.subst {
		from = append(from, k)
	}
	sort.Slice(from, func(i, j int) bool { return len(from[i]) > len(from[j]) })
	for _, k := range from {
		s = strings.ReplaceAll(s, k, r.subst[k])
	}
	return s
}

// taint remembers what an out-of-scope call made: the strings of its body and the ids of its
// recorded answer. Later calls naming them depend on an object the simulator never made.
func (r *replayer) taint(it interaction) {
	var body any
	_ = json.Unmarshal(it.RequestBody, &body)
	walkStrings(body, func(_, s string) {
		if len(s) >= 6 {
			r.tainted[s] = true
		}
	})
	walkStrings(it.ResponseBody, func(_, s string) {
		for _, id := range r.guids.FindAllString(s, -1) {
			r.tainted[id] = true
		}
	})
}

func (r *replayer) dependsOnMissingData(rawURL, body string) string {
	decoded, err := url.QueryUnescape(rawURL)
	if err != nil {
		decoded = rawURL
	}
	for s := range r.tainted {
		if containsToken(decoded, s) || strings.Contains(body, `"`+s+`"`) {
			return fmt.Sprintf("names %q, made by a call outside provision's scope", s)
		}
	}
	for _, id := range r.guids.FindAllString(rawURL, -1) {
		if !r.live[strings.ToLower(id)] {
			return fmt.Sprintf("names %s, an object of the recorded tenant the simulator does not have", id)
		}
	}
	// References in a body: the top-level fields that name another object.
	var b map[string]any
	_ = json.Unmarshal([]byte(body), &b)
	for _, key := range []string{"@odata.id", "keyId", "principalId", "resourceId", "clientId", "appId"} {
		for _, id := range r.guids.FindAllString(str(b[key]), -1) {
			if !r.live[strings.ToLower(id)] {
				return fmt.Sprintf("refers to %s, an object of the recorded tenant the simulator does not have", id)
			}
		}
	}
	return ""
}

// containsToken reports whether s appears in u as a whole path segment or quoted literal.
func containsToken(u, s string) bool {
	for _, delim := range [][2]string{{"/", "/"}, {"/", "?"}, {"'", "'"}} {
		if strings.Contains(u, delim[0]+s+delim[1]) {
			return true
		}
	}
	return strings.HasSuffix(u, "/"+s)
}

// listsUnseededObject: a recorded list whose first item the recording did not create, and that
// the simulator does not have, shows tenant data that existed before the test.
func (r *replayer) listsUnseededObject(recorded, got any) string {
	rm, gm := asMap(recorded), asMap(got)
	rv, gv := asList(rm["value"]), asList(gm["value"])
	if _, isList := rm["value"]; !isList || len(rv) == 0 || len(gv) > 0 {
		return ""
	}
	id := str(asMap(rv[0])["id"])
	if id == "" || r.created[id] {
		return ""
	}
	return fmt.Sprintf("the recorded answer lists %s (%s), which existed in the recorded tenant before the test", id, str(asMap(rv[0])["displayName"]))
}

// learn walks a recorded answer and the live one side by side, mapping each recorded id,
// appId and keyId to the live value in the same place, and notes every id the simulator gave.
func (r *replayer) learn(recorded, got any) {
	walkStrings(got, func(_, s string) {
		for _, id := range r.guids.FindAllString(s, -1) {
			r.live[strings.ToLower(id)] = true
		}
	})
	var walk func(a, b any)
	walk = func(a, b any) {
		switch x := a.(type) {
		case map[string]any:
			y, ok := b.(map[string]any)
			if !ok {
				return
			}
			for k, av := range x {
				bv := y[k]
				if k == "id" || k == "appId" || k == "keyId" {
					as, bs := str(av), str(bv)
					if as != "" && bs != "" && as != bs {
						r.subst[as] = bs
					}
					continue
				}
				walk(av, bv)
			}
		case []any:
			y, _ := b.([]any)
			for i := 0; i < len(x) && i < len(y); i++ {
				walk(x[i], y[i])
			}
		}
	}
	walk(recorded, got)
}

// compareKeys compares the top-level keys of an entity, or of a collection's first item.
func (r *replayer) compareKeys(recorded, got any) (bool, string) {
	if recorded == nil {
		if got != nil {
			return false, fmt.Sprintf("recorded no body, got %s", abbreviate(got))
		}
		return true, ""
	}
	rm, gm := asMap(recorded), asMap(got)
	if rm == nil || gm == nil {
		if fmt.Sprintf("%T", recorded) != fmt.Sprintf("%T", got) {
			return false, fmt.Sprintf("answer is %T, recorded %T", got, recorded)
		}
		return true, ""
	}
	context := str(gm["@odata.context"])
	if _, isList := rm["value"]; isList && len(rm) <= 3 {
		rv, gv := asList(rm["value"]), asList(gm["value"])
		switch {
		case len(rv) == 0 && len(gv) == 0:
			return true, ""
		case len(rv) == 0 || len(gv) == 0:
			return false, fmt.Sprintf("%d items, recorded %d", len(gv), len(rv))
		}
		rm, gm = asMap(rv[0]), asMap(gv[0])
		if rm == nil || gm == nil {
			return fmt.Sprintf("%T", rv[0]) == fmt.Sprintf("%T", gv[0]), "item types differ"
		}
	}
	typ := entityType(context, gm)
	var missing, extra []string
	for k := range rm {
		if _, ok := gm[k]; !ok {
			missing = append(missing, k)
		}
	}
	for k := range gm {
		if _, ok := rm[k]; !ok && !r.schema[typ][k] {
			extra = append(extra, k)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	if len(missing) > 0 || len(extra) > 0 {
		return false, fmt.Sprintf("keys of %s: missing %v, unexpected %v", typ, missing, extra)
	}
	return true, ""
}

// entityType names the Graph type of an answer from its item's @odata.type or its context.
func entityType(context string, item map[string]any) string {
	if t := str(item["@odata.type"]); t != "" {
		return strings.TrimPrefix(t, "#microsoft.graph.")
	}
	_, frag, _ := strings.Cut(context, "#")
	frag = strings.TrimSuffix(frag, "/$entity")
	if i := strings.LastIndexByte(frag, '/'); i >= 0 {
		frag = frag[i+1:]
	}
	if i := strings.IndexByte(frag, '('); i >= 0 {
		frag = frag[:i]
	}
	if typ, ok := strings.CutPrefix(frag, "microsoft.graph."); ok {
		return typ
	}
	return map[string]string{
		"applications": "application", "servicePrincipals": "servicePrincipal", "users": "user", "groups": "group",
		"oauth2PermissionGrants": "oAuth2PermissionGrant", "appRoleAssignedTo": "appRoleAssignment",
		"appRoleAssignments": "appRoleAssignment", "federatedIdentityCredentials": "federatedIdentityCredential",
	}[frag]
}

// schemaProperties lists the v1.0 properties of each type of the reference schema, with every
// annotation allowed.
func schemaProperties(t *testing.T) map[string]map[string]bool {
	t.Helper()
	var doc struct {
		Defs map[string]struct {
			Properties map[string]any `json:"properties"`
		} `json:"$defs"`
	}
	if err := json.Unmarshal([]byte(graphSchemasJSON), &doc); err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]bool{}
	for name, def := range doc.Defs {
		typ, ok := strings.CutPrefix(name, "microsoft.graph.")
		if !ok {
			continue
		}
		out[typ] = map[string]bool{"@odata.context": true, "@odata.type": true}
		for p := range def.Properties {
			out[typ][p] = true
		}
	}
	out["group"] = map[string]bool{"@odata.context": true, "@odata.type": true}
	for p := range groupKind().props {
		out["group"][groupKind().props[p]] = true
	}
	return out
}

func (r *replayer) send(method, rawURL, body string) (int, any) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, r.f.srv.URL+rawURL, rd)
	if err != nil {
		r.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+r.token)
	resp, err := r.f.srv.Client().Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if len(b) == 0 {
		return resp.StatusCode, nil
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return resp.StatusCode, string(b)
	}
	return resp.StatusCode, v
}

// checkErrorEnvelope says what is wrong with an error answer, or "".
func checkErrorEnvelope(v any) string {
	e := asMap(asMap(v)["error"])
	if e == nil {
		return fmt.Sprintf("no error object in %s", abbreviate(v))
	}
	if str(e["code"]) == "" || str(e["message"]) == "" {
		return "error.code or error.message empty"
	}
	return ""
}

func walkStrings(v any, fn func(key, s string)) {
	var walk func(key string, v any)
	walk = func(key string, v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, el := range x {
				walk(k, el)
			}
		case []any:
			for _, el := range x {
				walk(key, el)
			}
		case string:
			fn(key, x)
		}
	}
	walk("", v)
}

func abbreviate(v any) string {
	b, _ := json.Marshal(v)
	if len(b) > 300 {
		return string(b[:300]) + "…"
	}
	return string(b)
}

// operatorSP returns the object id of the operator's service principal.
func (t *Tenant) operatorSP() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return findBy(t.dir.ServicePrincipals, "appId", operatorClientID).id()
}
