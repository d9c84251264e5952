package examples_test

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/rhysd/actionlint"
	"gopkg.in/yaml.v3"
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
	for _, want := range []string{"--detailed-exitcode", "$GITHUB_STEP_SUMMARY", "-o json", "actions/upload-artifact@",
		"--auto-approve", "refs/heads/main"} {
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
	DisplayName string            `yaml:"displayName"`
	Condition   string            `yaml:"condition"`
	Inputs      map[string]string `yaml:"inputs"`
}

// azurePipeline is the single-job form of an Azure Pipelines definition.
type azurePipeline struct {
	Trigger yaml.Node         `yaml:"trigger"`
	PR      yaml.Node         `yaml:"pr"`
	Pool    map[string]string `yaml:"pool"`
	Steps   []azureStep       `yaml:"steps"`
}

// checkAzurePipeline returns what is wrong with an Azure Pipelines definition against the
// structure provision's example relies on: a trigger, a hosted pool, steps, and AzureCLI@2
// tasks with a service connection known at compile time and an inline bash script that signs
// provision in with --auth cli.
func checkAzurePipeline(data []byte) []string {
	var p azurePipeline
	if err := yaml.Unmarshal(data, &p); err != nil {
		return []string{"not YAML: " + err.Error()}
	}
	var probs []string
	if p.Trigger.Kind == 0 {
		probs = append(probs, "no trigger")
	}
	if p.Pool["vmImage"] == "" && p.Pool["name"] == "" {
		probs = append(probs, "no pool (vmImage or name)")
	}
	if len(p.Steps) == 0 {
		probs = append(probs, "no steps")
	}
	cli := 0
	for i, s := range p.Steps {
		if s.Task == "" && s.Script == "" {
			probs = append(probs, "step "+s.DisplayName+": neither task nor script")
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
