package examples_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/rhysd/actionlint"
	"gopkg.in/yaml.v3"

	"github.com/provisionhq/provision/manifests/dotenv"
)

// ciFiles returns the YAML files of examples/ that are CI definitions rather than manifests:
// the .yml files next to the manifests and everything under ci/.
func ciFiles(t *testing.T) []string {
	t.Helper()
	var files []string
	for _, pattern := range []string{"*.yml", "ci/*.yml", "ci/*.yaml"} {
		found, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, found...)
	}
	slices.Sort(files)
	return files
}

// ciKind says what a CI file is from its top-level keys: "github" for a GitHub Actions
// workflow (on and jobs), "azure" for an Azure Pipelines definition, "" otherwise.
func ciKind(doc map[string]any) string {
	_, on := doc["on"]
	_, jobs := doc["jobs"]
	if on && jobs {
		return "github"
	}
	for _, k := range []string{"trigger", "pr", "pool", "stages"} {
		if _, ok := doc[k]; ok {
			return "azure"
		}
	}
	return ""
}

func readYAML(t *testing.T, path string) ([]byte, map[string]any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return data, doc
}

// lint runs actionlint, through its Go API, on one workflow. Shellcheck and pyflakes are left
// out: they are external programs a test machine may not have.
func lint(t *testing.T, path string, content []byte) []*actionlint.Error {
	t.Helper()
	l, err := actionlint.NewLinter(io.Discard, &actionlint.LinterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	errs, err := l.Lint(path, content, nil)
	if err != nil {
		t.Fatalf("lint %s: %v", path, err)
	}
	return errs
}

func TestEveryCIFileIsKnown(t *testing.T) {
	files := ciFiles(t)
	if len(files) == 0 {
		t.Fatal("no CI examples found")
	}
	kinds := map[string]int{}
	for _, f := range files {
		_, doc := readYAML(t, f)
		k := ciKind(doc)
		if k == "" {
			t.Errorf("%s is neither a GitHub Actions workflow nor an Azure Pipelines definition", f)
		}
		kinds[k]++
	}
	if kinds["github"] == 0 || kinds["azure"] == 0 {
		t.Errorf("CI examples by kind = %v, want at least one GitHub workflow and one Azure pipeline", kinds)
	}
}

func TestGitHubWorkflowsPassActionlint(t *testing.T) {
	for _, f := range ciFiles(t) {
		data, doc := readYAML(t, f)
		if ciKind(doc) != "github" {
			continue
		}
		t.Run(f, func(t *testing.T) {
			for _, e := range lint(t, f, data) {
				t.Errorf("%s:%d:%d: %s [%s]", f, e.Line, e.Column, e.Message, e.Kind)
			}
		})
	}
}

// TestActionlintCatchesMistakes shows the lint above would fail on the mistakes a workflow
// edit typically makes, so its passing means something.
func TestActionlintCatchesMistakes(t *testing.T) {
	for _, tc := range []struct {
		reason   string
		workflow string
		wantKind string
	}{
		{
			reason:   "a job without runs-on",
			workflow: "on: push\njobs:\n  plan:\n    steps:\n      - run: provision plan manifests\n",
			wantKind: "syntax-check",
		},
		{
			reason: "an unknown permission scope",
			workflow: "on: push\npermissions:\n  id-tokens: write\njobs:\n  plan:\n    runs-on: ubuntu-latest\n" +
				"    steps:\n      - run: provision plan manifests\n",
			wantKind: "permissions",
		},
		{
			reason: "an undefined expression context",
			workflow: "on: push\njobs:\n  plan:\n    runs-on: ubuntu-latest\n" +
				"    steps:\n      - run: echo ${{ var.AZURE_CLIENT_ID }}\n",
			wantKind: "expression",
		},
		{
			reason: "an input the action does not have (the MSP workflows rely on download-artifact's run-id and merge-multiple)",
			workflow: "on: push\njobs:\n  summary:\n    runs-on: ubuntu-latest\n" +
				"    steps:\n      - uses: actions/download-artifact@v4\n        with:\n          merge-multiples: true\n",
			wantKind: "action",
		},
		{
			reason: "the matrix context in a job without a matrix (the tenant's concurrency group needs one)",
			workflow: "on: push\njobs:\n  apply:\n    runs-on: ubuntu-latest\n    concurrency:\n      group: t-${{ matrix.tenant }}\n" +
				"    steps:\n      - run: provision apply m\n",
			wantKind: "expression",
		},
	} {
		t.Run(tc.reason, func(t *testing.T) {
			errs := lint(t, "broken.yml", []byte(tc.workflow))
			var kinds []string
			for _, e := range errs {
				kinds = append(kinds, e.Kind)
			}
			if !slices.Contains(kinds, tc.wantKind) {
				t.Errorf("lint kinds = %v, want %q among them", kinds, tc.wantKind)
			}
		})
	}
}

// TestGitHubWorkflowFollowsTheCIRecipe checks what actionlint cannot: that the plan/apply
// workflow does what the README says (plan on pull requests with a summary and a JSON
// artifact, apply on main, federated sign-in without a stored secret).
func TestGitHubWorkflowFollowsTheCIRecipe(t *testing.T) {
	data, doc := readYAML(t, "ci/github-actions.yml")
	text := string(data)
	on, _ := doc["on"].(map[string]any)
	if _, ok := on["pull_request"]; !ok {
		t.Error("the workflow does not run on pull_request")
	}
	jobs, _ := doc["jobs"].(map[string]any)
	for _, name := range []string{"plan", "apply"} {
		job, _ := jobs[name].(map[string]any)
		if job == nil {
			t.Errorf("no %s job", name)
			continue
		}
		perms, _ := job["permissions"].(map[string]any)
		if perms["id-token"] != "write" {
			t.Errorf("job %s: permissions.id-token = %v, want write", name, perms["id-token"])
		}
		var login map[string]any
		steps, _ := job["steps"].([]any)
		for _, s := range steps {
			step, _ := s.(map[string]any)
			if uses, _ := step["uses"].(string); strings.HasPrefix(uses, "azure/login@v2") {
				login, _ = step["with"].(map[string]any)
			}
		}
		for _, key := range []string{"client-id", "tenant-id"} {
			if v, _ := login[key].(string); v == "" || strings.Contains(v, "secrets.") {
				t.Errorf("job %s: azure/login %s = %q, want a non-secret identifier", name, key, v)
			}
		}
		if login["allow-no-subscriptions"] != true {
			t.Errorf("job %s: azure/login allow-no-subscriptions = %v, want true", name, login["allow-no-subscriptions"])
		}
		if _, ok := login["client-secret"]; ok {
			t.Errorf("job %s: azure/login has a client-secret; federation needs none", name)
		}
	}
	// The pull request's plan is saved, and the merge applies that saved plan, not a new one.
	for _, want := range []string{"--detailed-exitcode", "$GITHUB_STEP_SUMMARY", "-o json", "actions/upload-artifact@",
		"--out provision.plan", "actions/download-artifact@", "provision apply provision.plan",
		"github.event.pull_request.merged", "environment: tenant", "refs/heads/main"} {
		if !strings.Contains(text, want) {
			t.Errorf("the workflow does not contain %q", want)
		}
	}
	if strings.Contains(text, "AZURE_CLIENT_SECRET") {
		t.Error("the workflow mentions AZURE_CLIENT_SECRET; it must sign in without a stored secret")
	}
}

// azureStep is the part of an Azure Pipelines step the check reads.
type azureStep struct {
	Task        string            `yaml:"task"`
	Script      string            `yaml:"script"`
	Checkout    string            `yaml:"checkout"`
	Name        string            `yaml:"name"`
	DisplayName string            `yaml:"displayName"`
	Condition   string            `yaml:"condition"`
	Inputs      map[string]string `yaml:"inputs"`
}

// azureJob is the part of an Azure Pipelines job the checks read.
type azureJob struct {
	Job       string            `yaml:"job"`
	DependsOn yaml.Node         `yaml:"dependsOn"`
	Condition string            `yaml:"condition"`
	Pool      map[string]string `yaml:"pool"`
	Strategy  struct {
		Matrix      yaml.Node `yaml:"matrix"`
		MaxParallel int       `yaml:"maxParallel"`
	} `yaml:"strategy"`
	Steps []azureStep `yaml:"steps"`
}

// azurePipeline is an Azure Pipelines definition in its single-job form (steps) or with jobs.
type azurePipeline struct {
	Trigger      yaml.Node         `yaml:"trigger"`
	PR           yaml.Node         `yaml:"pr"`
	LockBehavior string            `yaml:"lockBehavior"`
	Pool         map[string]string `yaml:"pool"`
	Steps        []azureStep       `yaml:"steps"`
	Jobs         []azureJob        `yaml:"jobs"`
}

// allSteps are the pipeline's steps, job after job.
func (p azurePipeline) allSteps() []azureStep {
	steps := slices.Clone(p.Steps)
	for _, j := range p.Jobs {
		steps = append(steps, j.Steps...)
	}
	return steps
}

// hasPool reports whether every job runs on a pool: the pipeline's or its own.
func (p azurePipeline) hasPool() bool {
	named := func(pool map[string]string) bool { return pool["vmImage"] != "" || pool["name"] != "" }
	if named(p.Pool) {
		return true
	}
	if len(p.Jobs) == 0 {
		return false
	}
	for _, j := range p.Jobs {
		if !named(j.Pool) {
			return false
		}
	}
	return true
}

// checkAzurePipeline returns what is wrong with an Azure Pipelines definition against the
// structure provision's examples rely on: a trigger, a hosted pool, steps (at the top or in
// jobs), and AzureCLI@2 tasks with a service connection known at compile time and an inline
// bash script that signs provision in with --auth cli.
func checkAzurePipeline(data []byte) []string {
	var p azurePipeline
	if err := yaml.Unmarshal(data, &p); err != nil {
		return []string{"not YAML: " + err.Error()}
	}
	var probs []string
	if p.Trigger.Kind == 0 {
		probs = append(probs, "no trigger")
	}
	if !p.hasPool() {
		probs = append(probs, "no pool (vmImage or name)")
	}
	steps := p.allSteps()
	if len(steps) == 0 {
		probs = append(probs, "no steps")
	}
	cli := 0
	for i, s := range steps {
		if s.Task == "" && s.Script == "" && s.Checkout == "" {
			probs = append(probs, "step "+s.DisplayName+": neither task, script nor checkout")
		}
		if s.Task != "AzureCLI@2" {
			continue
		}
		cli++
		prefix := fmt.Sprintf("AzureCLI@2 step %d: ", i)
		in := s.Inputs
		switch {
		case in["azureSubscription"] == "":
			probs = append(probs, prefix+"no azureSubscription")
		case strings.Contains(in["azureSubscription"], "$("):
			probs = append(probs, prefix+"azureSubscription must be known when the pipeline is compiled, not a $(runtime) variable")
		}
		if !slices.Contains([]string{"bash", "pscore", "ps", "batch"}, in["scriptType"]) {
			probs = append(probs, prefix+"scriptType "+in["scriptType"]+" is not bash, pscore, ps or batch")
		}
		switch in["scriptLocation"] {
		case "inlineScript":
			if strings.TrimSpace(in["inlineScript"]) == "" {
				probs = append(probs, prefix+"scriptLocation inlineScript without inlineScript")
			}
		case "scriptPath":
			if in["scriptPath"] == "" {
				probs = append(probs, prefix+"scriptLocation scriptPath without scriptPath")
			}
		default:
			probs = append(probs, prefix+"scriptLocation "+in["scriptLocation"]+" is not inlineScript or scriptPath")
		}
		for _, line := range strings.Split(in["inlineScript"], "\n") {
			line = strings.TrimSpace(line)
			for _, cmd := range []string{"provision plan", "provision apply", "provision doctor", "provision rotate"} {
				if strings.HasPrefix(line, cmd) && !strings.Contains(line, "--auth cli") {
					probs = append(probs, prefix+""+cmd+" without --auth cli does not use the task's sign-in")
				}
			}
		}
	}
	if cli == 0 {
		probs = append(probs, "no AzureCLI@2 step")
	}
	return probs
}

func TestAzurePipelinesHaveTheExpectedStructure(t *testing.T) {
	n := 0
	for _, f := range ciFiles(t) {
		data, doc := readYAML(t, f)
		if ciKind(doc) != "azure" {
			continue
		}
		n++
		for _, p := range checkAzurePipeline(data) {
			t.Errorf("%s: %s", f, p)
		}
		text := string(data)
		for _, want := range []string{"--detailed-exitcode", "-o json", "--auto-approve", "refs/heads/main"} {
			if !strings.Contains(text, want) {
				t.Errorf("%s does not contain %q", f, want)
			}
		}
	}
	if n == 0 {
		t.Fatal("no Azure Pipelines example found")
	}
}

func TestAzurePipelineCheckCatchesMistakes(t *testing.T) {
	base := "trigger: [main]\npool:\n  vmImage: ubuntu-latest\nsteps:\n"
	for _, tc := range []struct {
		reason   string
		pipeline string
		want     []string
	}{
		{
			reason:   "a correct pipeline has nothing to report",
			pipeline: base + "  - task: AzureCLI@2\n    inputs:\n      azureSubscription: conn\n      scriptType: bash\n      scriptLocation: inlineScript\n      inlineScript: provision plan m --auth cli\n",
		},
		{
			reason:   "no trigger, pool or steps",
			pipeline: "variables:\n  a: b\n",
			want:     []string{"no trigger", "no pool (vmImage or name)", "no steps", "no AzureCLI@2 step"},
		},
		{
			reason:   "a runtime service connection, a wrong script type and provision without --auth cli",
			pipeline: base + "  - task: AzureCLI@2\n    inputs:\n      azureSubscription: $(conn)\n      scriptType: sh\n      scriptLocation: inlineScript\n      inlineScript: provision apply m --auto-approve\n",
			want: []string{
				"AzureCLI@2 step 0: azureSubscription must be known when the pipeline is compiled, not a $(runtime) variable",
				"AzureCLI@2 step 0: scriptType sh is not bash, pscore, ps or batch",
				"AzureCLI@2 step 0: provision apply without --auth cli does not use the task's sign-in",
			},
		},
		{
			reason: "jobs that each name a pool, with a checkout step, have nothing to report",
			pipeline: "trigger: none\njobs:\n  - job: a\n    pool:\n      vmImage: ubuntu-latest\n    steps:\n      - checkout: self\n" +
				"      - task: AzureCLI@2\n        inputs:\n          azureSubscription: conn\n          scriptType: bash\n          scriptLocation: inlineScript\n          inlineScript: provision plan m --auth cli\n",
		},
		{
			reason:   "a job without a pool when the pipeline has none, and a job step that is nothing",
			pipeline: "trigger: none\njobs:\n  - job: a\n    steps:\n      - displayName: empty\n",
			want:     []string{"no pool (vmImage or name)", "step empty: neither task, script nor checkout", "no AzureCLI@2 step"},
		},
		{
			reason:   "an inline script location without a script",
			pipeline: base + "  - task: AzureCLI@2\n    inputs:\n      azureSubscription: conn\n      scriptType: bash\n      scriptLocation: inlineScript\n",
			want:     []string{"AzureCLI@2 step 0: scriptLocation inlineScript without inlineScript"},
		},
	} {
		t.Run(tc.reason, func(t *testing.T) {
			got := checkAzurePipeline([]byte(tc.pipeline))
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("checkAzurePipeline (-want +got):\n%s", diff)
			}
		})
	}
}

// The MSP layout the workflows expect in the repository they are copied to: examples/msp
// copied to msp/.
const (
	mspTemplate = "msp/openfire.yaml"
	mspTenants  = "msp/tenants"
	// tenantGroup is the concurrency group of every job that writes to a customer's tenant,
	// in every GitHub workflow of the layout.
	tenantGroup = "provision-tenant-${{ matrix.tenant }}"
)

// ghWorkflow is the part of a GitHub Actions workflow the MSP checks read.
type ghWorkflow struct {
	On   map[string]yaml.Node `yaml:"on"`
	Env  map[string]string    `yaml:"env"`
	Jobs map[string]ghJob     `yaml:"jobs"`
}

type ghJob struct {
	If          string            `yaml:"if"`
	Needs       yaml.Node         `yaml:"needs"`
	Environment string            `yaml:"environment"`
	Outputs     map[string]string `yaml:"outputs"`
	Permissions map[string]string `yaml:"permissions"`
	Env         map[string]string `yaml:"env"`
	Strategy    struct {
		FailFast    *bool          `yaml:"fail-fast"`
		MaxParallel int            `yaml:"max-parallel"`
		Matrix      map[string]any `yaml:"matrix"`
	} `yaml:"strategy"`
	Concurrency struct {
		Group            string `yaml:"group"`
		CancelInProgress bool   `yaml:"cancel-in-progress"`
	} `yaml:"concurrency"`
	Steps []ghStep `yaml:"steps"`
}

type ghStep struct {
	ID   string            `yaml:"id"`
	If   string            `yaml:"if"`
	Uses string            `yaml:"uses"`
	Run  string            `yaml:"run"`
	With map[string]string `yaml:"with"`
	Env  map[string]string `yaml:"env"`
}

func (j ghJob) needs() []string {
	var out []string
	switch j.Needs.Kind {
	case yaml.ScalarNode:
		out = []string{j.Needs.Value}
	case yaml.SequenceNode:
		for _, n := range j.Needs.Content {
			out = append(out, n.Value)
		}
	}
	return out
}

// step is the first step that uses the action (a prefix such as "azure/login@"), or whose
// run script contains text when action is "".
func (j ghJob) step(action, text string) (ghStep, int) {
	for i, s := range j.Steps {
		if action != "" && strings.HasPrefix(s.Uses, action) || action == "" && strings.Contains(s.Run, text) {
			return s, i
		}
	}
	return ghStep{}, -1
}

func readWorkflow(t *testing.T, path string) ghWorkflow {
	t.Helper()
	data, _ := readYAML(t, path)
	var wf ghWorkflow
	if err := yaml.Unmarshal(data, &wf); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return wf
}

// checkFanOut returns what is wrong with the fan-out of a GitHub workflow of the MSP layout:
// a job listing the customers with customers.sh, the matrix job over them (one job per
// customer, no fail-fast, bounded parallelism, signed in to the customer's tenant without a
// stored secret, writing to the tenant only in the tenant's concurrency group, keeping its
// reports whatever happened), and the summary job that gathers the reports into the run's
// summary. writes says whether the matrix job writes to the tenants.
func checkFanOut(wf ghWorkflow, matrixJob string, writes bool) []string {
	var probs []string
	add := func(format string, args ...any) { probs = append(probs, fmt.Sprintf(format, args...)) }
	if wf.Env["TEMPLATE"] != mspTemplate || wf.Env["TENANTS"] != mspTenants {
		add("env TEMPLATE, TENANTS = %q, %q, want %q, %q", wf.Env["TEMPLATE"], wf.Env["TENANTS"], mspTemplate, mspTenants)
	}
	list := wf.Jobs["customers"]
	if s, i := list.step("", "msp/customers.sh"); i < 0 || s.ID != "list" || !strings.Contains(s.Run, `"$TENANTS" github`) {
		add("job customers: no step list running msp/customers.sh \"$TENANTS\" github")
	}
	if list.Outputs["matrix"] != "${{ steps.list.outputs.matrix }}" {
		add("job customers: outputs.matrix = %q, want the list step's output", list.Outputs["matrix"])
	}

	job, ok := wf.Jobs[matrixJob]
	if !ok {
		return append(probs, "no job "+matrixJob)
	}
	if !slices.Contains(job.needs(), "customers") {
		add("job %s: needs %v, want customers", matrixJob, job.needs())
	}
	if job.Strategy.FailFast == nil || *job.Strategy.FailFast {
		add("job %s: fail-fast is not false: one customer's failure would cancel the others", matrixJob)
	}
	if job.Strategy.MaxParallel <= 0 {
		add("job %s: no max-parallel", matrixJob)
	}
	if got := job.Strategy.Matrix["include"]; got != "${{ fromJSON(needs.customers.outputs.matrix) }}" {
		add("job %s: matrix.include = %v, want the customers job's matrix", matrixJob, got)
	}
	if job.Permissions["id-token"] != "write" {
		add("job %s: permissions.id-token = %q, want write", matrixJob, job.Permissions["id-token"])
	}
	if want := "msp/tenants/${{ matrix.customer }}.env"; job.Env["ENV_FILE"] != want {
		add("job %s: ENV_FILE = %q, want %q", matrixJob, job.Env["ENV_FILE"], want)
	}
	login, i := job.step("azure/login@v2", "")
	switch {
	case i < 0:
		add("job %s: no azure/login@v2 step", matrixJob)
	case login.With["tenant-id"] != "${{ matrix.tenant }}":
		add("job %s: azure/login tenant-id = %q, want the customer's, ${{ matrix.tenant }}", matrixJob, login.With["tenant-id"])
	}
	if v := login.With["client-id"]; !strings.HasPrefix(v, "${{ vars.") {
		add("job %s: azure/login client-id = %q, want a repository variable", matrixJob, v)
	}
	if _, ok := login.With["client-secret"]; ok {
		add("job %s: azure/login has a client-secret; federation needs none", matrixJob)
	}
	if login.With["allow-no-subscriptions"] != "true" {
		add("job %s: azure/login allow-no-subscriptions = %q, want true", matrixJob, login.With["allow-no-subscriptions"])
	}
	if writes && (job.Concurrency.Group != tenantGroup || job.Concurrency.CancelInProgress) {
		add("job %s: concurrency %+v, want group %s without cancel-in-progress", matrixJob, job.Concurrency, tenantGroup)
	}
	uploaded := false
	for _, s := range job.Steps {
		if strings.HasPrefix(s.Uses, "actions/upload-artifact@") && s.With["name"] == "provision-${{ matrix.customer }}" {
			uploaded = true
			if s.With["path"] != "reports/" || !strings.Contains(s.If, "!cancelled()") {
				add("job %s: the reports' upload has path %q and if %q, want reports/ whatever happened before (!cancelled())", matrixJob, s.With["path"], s.If)
			}
		}
	}
	if !uploaded {
		add("job %s: no upload of provision-${{ matrix.customer }}", matrixJob)
	}
	if s, i := job.step("", "provision plan"); i < 0 || !strings.Contains(s.Run, "-o json >") || !strings.Contains(s.Run, "--env-file \"$ENV_FILE\"") {
		add("job %s: no provision plan --env-file \"$ENV_FILE\" -o json > report", matrixJob)
	}

	sum, ok := wf.Jobs["summary"]
	if !ok {
		return append(probs, "no job summary")
	}
	if !slices.Contains(sum.needs(), matrixJob) || !strings.Contains(sum.If, "!cancelled()") {
		add("job summary: needs %v, if %q: want it after %s, also when some customers failed", sum.needs(), sum.If, matrixJob)
	}
	dl, i := sum.step("actions/download-artifact@", "")
	if i < 0 || dl.With["pattern"] != "provision-*" || dl.With["merge-multiple"] != "true" || dl.With["path"] != "reports" {
		add("job summary: download %v, want pattern provision-*, merge-multiple into reports", dl.With)
	}
	if s, i := sum.step("", "examples/msp/summary@"); i < 0 || !strings.Contains(s.Run, `-customers "$TENANTS"`) ||
		!strings.Contains(s.Run, `reports >> "$GITHUB_STEP_SUMMARY"`) {
		add("job summary: no step running examples/msp/summary -customers \"$TENANTS\" reports into $GITHUB_STEP_SUMMARY")
	}
	return probs
}

func TestMSPWorkflowFansOutOverTheTenants(t *testing.T) {
	wf := readWorkflow(t, "ci/github-actions-msp.yml")
	for _, p := range checkFanOut(wf, "apply", true) {
		t.Error(p)
	}
	apply := wf.Jobs["apply"]
	if s, i := apply.step("", "provision apply"); i < 0 || !strings.Contains(s.Run, `provision apply "$TEMPLATE" --env-file "$ENV_FILE"`) ||
		!strings.Contains(s.Run, "--auto-approve") || !strings.Contains(s.Run, `> "$REPORTS/apply.json"`) {
		t.Errorf("job apply: no provision apply of the template with the customer's env file into the report: %q", s.Run)
	}
	if apply.Environment == "" {
		t.Error("job apply: no environment: the federated credential's subject names one")
	}
	for _, event := range []string{"schedule", "workflow_dispatch"} {
		if _, ok := wf.On[event]; !ok {
			t.Errorf("the workflow does not run on %s", event)
		}
	}
}

func TestMSPPullRequestWorkflowAppliesTheReviewedPlan(t *testing.T) {
	wf := readWorkflow(t, "ci/github-actions-msp-pr.yml")
	for _, p := range checkFanOut(wf, "plan", false) {
		t.Error(p)
	}
	for _, p := range checkFanOut(wf, "apply", true) {
		t.Error(p)
	}
	var pr struct {
		Types []string `yaml:"types"`
	}
	if n, ok := wf.On["pull_request"]; !ok || n.Decode(&pr) != nil || !slices.Contains(pr.Types, "closed") {
		t.Errorf("on.pull_request types = %v, want closed among them (the merge applies)", pr.Types)
	}

	plan := wf.Jobs["plan"]
	if !strings.Contains(plan.If, "!= 'closed'") {
		t.Errorf("job plan: if %q, want it on an open pull request only", plan.If)
	}
	if s, i := plan.step("", "provision plan"); i < 0 || !strings.Contains(s.Run, `--out "plans/$CUSTOMER.plan"`) {
		t.Errorf("job plan: the plan is not saved with --out \"plans/$CUSTOMER.plan\": %q", s.Run)
	}
	if s, i := plan.step("actions/upload-artifact@", ""); i < 0 || s.With["name"] != "plan-${{ matrix.customer }}" ||
		s.With["path"] != "plans/${{ matrix.customer }}.plan" {
		t.Errorf("job plan: the saved plan is not uploaded as plan-${{ matrix.customer }}: %v", s.With)
	}

	find := wf.Jobs["saved-plans"]
	if s, i := find.step("", "gh run list"); i < 0 || !strings.Contains(s.Run, `--commit "$HEAD_SHA" --status success`) ||
		s.Env["HEAD_SHA"] != "${{ github.event.pull_request.head.sha }}" {
		t.Error("job saved-plans: does not find the successful run of the merged pull request's head")
	}
	if find.Outputs["run-id"] == "" || find.Permissions["actions"] != "read" {
		t.Errorf("job saved-plans: outputs %v, permissions %v; want run-id and actions: read", find.Outputs, find.Permissions)
	}

	apply := wf.Jobs["apply"]
	if !strings.Contains(apply.If, "merged") || !slices.Contains(apply.needs(), "saved-plans") {
		t.Errorf("job apply: if %q, needs %v; want it after the merge, with the saved plans' run", apply.If, apply.needs())
	}
	if apply.Environment == "" || apply.Environment == readWorkflow(t, "ci/github-actions-msp.yml").Jobs["apply"].Environment {
		t.Errorf("job apply: environment %q, want one of its own, whose required reviewers approve the merge's applies", apply.Environment)
	}
	if apply.Permissions["actions"] != "read" {
		t.Error("job apply: no actions: read to download another run's artifact")
	}
	if s, _ := apply.step("actions/checkout@", ""); s.With["ref"] != "${{ github.event.pull_request.merge_commit_sha }}" {
		t.Errorf("job apply: checkout ref %q, want the merge commit", s.With["ref"])
	}
	dl, dlAt := apply.step("actions/download-artifact@", "")
	if dl.With["name"] != "plan-${{ matrix.customer }}" || dl.With["run-id"] != "${{ needs.saved-plans.outputs.run-id }}" || dl.With["github-token"] == "" {
		t.Errorf("job apply: download %v, want the customer's plan from the plan run", dl.With)
	}
	applied, applyAt := apply.step("", "provision apply")
	if !strings.Contains(applied.Run, `provision apply "plans/$CUSTOMER.plan"`) || applyAt < dlAt {
		t.Errorf("job apply: step %d runs %q; want provision apply \"plans/$CUSTOMER.plan\" after the download (step %d)", applyAt, applied.Run, dlAt)
	}
	for _, s := range apply.Steps[:max(applyAt, 0)] {
		if strings.Contains(s.Run, "provision plan") || strings.Contains(s.Run, "provision apply \"$TEMPLATE\"") {
			t.Errorf("job apply: plans again before applying the reviewed plan: %q", s.Run)
		}
	}
}

// TestFanOutCheckCatchesMistakes shows the fan-out checks fail on the mistakes that would
// matter: a customer's failure cancelling the others, every job signing in to one tenant, two
// runs writing to one tenant at once, reports lost with the job that failed.
func TestFanOutCheckCatchesMistakes(t *testing.T) {
	for _, tc := range []struct {
		reason string
		break_ func(*ghWorkflow)
		want   string
	}{
		{"fail-fast left on", func(wf *ghWorkflow) {
			j := wf.Jobs["apply"]
			j.Strategy.FailFast = nil
			wf.Jobs["apply"] = j
		}, "job apply: fail-fast is not false: one customer's failure would cancel the others"},
		{"the tenant of a repository variable", func(wf *ghWorkflow) {
			wf.Jobs["apply"].Steps[3].With["tenant-id"] = "${{ vars.AZURE_TENANT_ID }}"
		}, "job apply: azure/login tenant-id = \"${{ vars.AZURE_TENANT_ID }}\", want the customer's, ${{ matrix.tenant }}"},
		{"one concurrency group for every tenant", func(wf *ghWorkflow) {
			j := wf.Jobs["apply"]
			j.Concurrency.Group = "provision"
			wf.Jobs["apply"] = j
		}, "job apply: concurrency {Group:provision CancelInProgress:false}, want group provision-tenant-${{ matrix.tenant }} without cancel-in-progress"},
		{"reports kept only when the job succeeded", func(wf *ghWorkflow) {
			j := wf.Jobs["apply"]
			j.Steps[len(j.Steps)-1].If = ""
		}, "job apply: the reports' upload has path \"reports/\" and if \"\", want reports/ whatever happened before (!cancelled())"},
	} {
		t.Run(tc.reason, func(t *testing.T) {
			wf := readWorkflow(t, "ci/github-actions-msp.yml")
			if probs := checkFanOut(wf, "apply", true); len(probs) != 0 {
				t.Fatalf("the example itself has problems: %v", probs)
			}
			tc.break_(&wf)
			if got := checkFanOut(wf, "apply", true); !slices.Contains(got, tc.want) {
				t.Errorf("problems = %q, want %q among them", got, tc.want)
			}
		})
	}
}

func TestMSPAzurePipelineFansOutOverTheTenants(t *testing.T) {
	data, _ := readYAML(t, "ci/azure-pipelines-msp.yml")
	var p azurePipeline
	if err := yaml.Unmarshal(data, &p); err != nil {
		t.Fatal(err)
	}
	jobs := map[string]azureJob{}
	for _, j := range p.Jobs {
		jobs[j.Job] = j
	}
	if p.LockBehavior != "sequential" {
		t.Errorf("lockBehavior = %q, want sequential (with the service connection's exclusive lock)", p.LockBehavior)
	}
	var list azureStep
	for _, s := range jobs["customers"].Steps {
		if s.Name == "list" {
			list = s
		}
	}
	if !strings.Contains(list.Script, `msp/customers.sh "$(tenants)" azure`) || !strings.Contains(list.Script, "task.setvariable variable=legs;isOutput=true") {
		t.Errorf("job customers: step list %q, want customers.sh's azure matrix as the output variable legs", list.Script)
	}

	apply := jobs["apply"]
	if apply.DependsOn.Value != "customers" {
		t.Errorf("job apply: dependsOn %q, want customers", apply.DependsOn.Value)
	}
	if got := apply.Strategy.Matrix.Value; got != "$[ dependencies.customers.outputs['list.legs'] ]" {
		t.Errorf("job apply: matrix %q, want the customers job's legs", got)
	}
	if apply.Strategy.MaxParallel <= 0 {
		t.Error("job apply: no maxParallel")
	}
	var cli, publish azureStep
	for _, s := range apply.Steps {
		switch s.Task {
		case "AzureCLI@2":
			cli = s
		case "PublishPipelineArtifact@1":
			publish = s
		}
	}
	script := cli.Inputs["inlineScript"]
	for _, want := range []string{`az login --service-principal --username "$servicePrincipalId" --tenant "$(customerTenant)"`,
		`--federated-token "$idToken"`, `--env-file "$envfile"`, `envfile="$(tenants)/$(customer).env"`, `"$reports/apply.json"`, `"$reports/plan.json"`} {
		if !strings.Contains(script, want) {
			t.Errorf("job apply: the AzureCLI@2 script does not contain %q", want)
		}
	}
	if cli.Inputs["addSpnToEnvironment"] != "true" {
		t.Error("job apply: AzureCLI@2 without addSpnToEnvironment: true has no federated token for the customer's tenant")
	}
	if publish.Condition != "succeededOrFailed()" || !strings.HasPrefix(publish.Inputs["artifact"], "provision-$(customer)") {
		t.Errorf("job apply: publish condition %q, artifact %q; want the reports kept when the job failed, named for the customer", publish.Condition, publish.Inputs["artifact"])
	}

	sum := jobs["summary"]
	var deps []string
	for _, n := range sum.DependsOn.Content {
		deps = append(deps, n.Value)
	}
	if !slices.Contains(deps, "apply") || !strings.Contains(sum.Condition, "not(canceled())") {
		t.Errorf("job summary: dependsOn %v, condition %q; want it after apply, also when some customers failed", deps, sum.Condition)
	}
	var downloads, summarizes bool
	for _, s := range sum.Steps {
		downloads = downloads || s.Task == "DownloadPipelineArtifact@2"
		summarizes = summarizes || strings.Contains(s.Script, "examples/msp/summary@") && strings.Contains(s.Script, `-customers "$(tenants)"`) &&
			strings.Contains(s.Script, "task.uploadsummary")
	}
	if !downloads || !summarizes {
		t.Errorf("job summary: downloads the artifacts %v, writes the summary %v; want both", downloads, summarizes)
	}
}

// TestCustomersScriptReadsTheEnvFiles runs msp/customers.sh, which every MSP workflow starts
// with, on the example's tenant folder: its matrices name every customer with the tenant id
// that dotenv (and so provision) reads from the env file. On broken folders it names the file
// at fault and prints no matrix.
func TestCustomersScriptReadsTheEnvFiles(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash to run customers.sh with")
	}
	script := filepath.Join("msp", "customers.sh")
	tenants := filepath.Join("msp", "tenants")
	envs, err := filepath.Glob(filepath.Join(tenants, "*.env"))
	if err != nil || len(envs) == 0 {
		t.Fatalf("no env files in %s: %v", tenants, err)
	}
	type entry struct {
		Customer       string `json:"customer"`
		Tenant         string `json:"tenant,omitempty"`
		CustomerTenant string `json:"customerTenant,omitempty"`
	}
	wantGitHub := []entry{}
	wantAzure := map[string]entry{}
	for _, env := range envs {
		data, err := os.ReadFile(env)
		if err != nil {
			t.Fatal(err)
		}
		vars, err := dotenv.Parse(env, data)
		if err != nil {
			t.Fatal(err)
		}
		tenant := ""
		for _, v := range vars {
			if v.Name == "TENANT_ID" {
				tenant = v.Value
			}
		}
		name := strings.TrimSuffix(filepath.Base(env), ".env")
		wantGitHub = append(wantGitHub, entry{Customer: name, Tenant: tenant})
		wantAzure[name] = entry{Customer: name, CustomerTenant: tenant}
	}
	runScript := func(t *testing.T, args ...string) (stdout, stderr string, code int) {
		t.Helper()
		cmd := exec.Command(bash, append([]string{script}, args...)...)
		var out, errOut strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err := cmd.Run()
		var exit *exec.ExitError
		switch {
		case errors.As(err, &exit):
			code = exit.ExitCode()
		case err != nil:
			t.Fatal(err)
		}
		return out.String(), errOut.String(), code
	}

	out, stderr, code := runScript(t, tenants, "github")
	var gotGitHub []entry
	if code != 0 || json.Unmarshal([]byte(out), &gotGitHub) != nil {
		t.Fatalf("customers.sh github: exit %d, stdout %q, stderr %q", code, out, stderr)
	}
	if diff := cmp.Diff(wantGitHub, gotGitHub); diff != "" {
		t.Errorf("GitHub matrix (-want +got):\n%s", diff)
	}
	out, stderr, code = runScript(t, tenants, "azure")
	var gotAzure map[string]entry
	if code != 0 || json.Unmarshal([]byte(out), &gotAzure) != nil {
		t.Fatalf("customers.sh azure: exit %d, stdout %q, stderr %q", code, out, stderr)
	}
	if diff := cmp.Diff(wantAzure, gotAzure); diff != "" {
		t.Errorf("Azure matrix (-want +got):\n%s", diff)
	}

	for _, tc := range []struct {
		reason  string
		files   map[string]string
		wantErr string
	}{
		{"a quoted tenant id, which a line match would keep quoted", map[string]string{"a.env": "TENANT_ID=\"3c1a5f0e-8d2b-4e7a-9b61-0f4d2c8a7e15\"\n"},
			"a.env: no TENANT_ID=<tenant id> line"},
		{"no tenant id", map[string]string{"a.env": "OPENFIRE_BASE_URL=https://a.example\n"}, "a.env: no TENANT_ID=<tenant id> line"},
		{"a customer name that cannot name a job", map[string]string{"Big Corp.env": "TENANT_ID=3c1a5f0e-8d2b-4e7a-9b61-0f4d2c8a7e15\n"},
			"Big Corp.env: name the file after the customer in lower-case letters"},
		{"no env file", map[string]string{"README.md": "customers"}, "no NAME.env file in"},
	} {
		t.Run(tc.reason, func(t *testing.T) {
			dir := t.TempDir()
			for name, content := range tc.files {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			out, stderr, code := runScript(t, dir)
			if code != 1 || out != "" || !strings.Contains(stderr, tc.wantErr) {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit 1, no matrix and %q", code, out, stderr, tc.wantErr)
			}
		})
	}
}
