// Command check-manifests decodes YAML documents strictly into the Go types
// of the Kubernetes API (k8s.io/api) and of Argo Workflows, so that a field
// name, a type or a nesting mistake in generated manifests fails a test the
// way `kubectl apply` and the controllers would; then it checks what Argo
// requires of each registered artifact driver plugin, using Argo's own code
// for the socket path and folder.
//
//	check-manifests [--base deployment.yaml] [--helm-values values.yaml] FILE...
//
// FILEs hold YAML documents (ConfigMaps, Deployments, Roles, RoleBindings,
// Workflows, WorkflowTemplates, ClusterWorkflowTemplates, CronWorkflows).
// With --base, a Deployment document of the same name that has no selector is
// a strategic merge patch, applied to the base as `kubectl patch` does. With
// --helm-values, the argo-workflows chart's values are decoded and added to
// the base as the chart's templates add them. Prints a JSON report; exit
// status 1 when a document does not decode or a plugin misses what Argo needs.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/argoproj/argo-workflows/v4/config"
	wfv1 "github.com/argoproj/argo-workflows/v4/pkg/apis/workflow/v1alpha1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

type document struct {
	File string `json:"file"`
	Kind string `json:"kind"`
	Name string `json:"name"`
	raw  []byte
}

type report struct {
	Documents []document       `json:"documents"`
	Drivers   []pluginContract `json:"drivers"`
	Problems  []string         `json:"problems"`
	// Warnings do not change the exit status: Argo works, less well.
	Warnings []string `json:"warnings"`
}

// pluginContract is what Argo derives from one artifactDrivers entry.
type pluginContract struct {
	Name       string   `json:"name"`
	Image      string   `json:"image"`
	SocketPath string   `json:"socketPath"`
	SocketDir  string   `json:"socketDir"`
	Entrypoint []string `json:"entrypoint"`
}

type state struct {
	report      report
	deployments map[string]*appsv1.Deployment
	configs     []*config.Config
}

func main() {
	base := flag.String("base", "", "a Deployment that Deployment patches among the files apply to")
	helmValues := flag.String("helm-values", "", "values for the argo-workflows chart, added to --base")
	flag.Parse()
	s := &state{deployments: map[string]*appsv1.Deployment{}, report: report{Documents: []document{}, Drivers: []pluginContract{}, Problems: []string{}, Warnings: []string{}}}
	if *base != "" {
		docs, err := readDocuments(*base)
		s.fail(err)
		for _, doc := range docs {
			var d appsv1.Deployment
			if s.fail(strict(doc, &d)) {
				s.deployments[d.Name] = &d
			}
		}
	}
	for _, file := range flag.Args() {
		docs, err := readDocuments(file)
		if !s.fail(err) {
			continue
		}
		for _, doc := range docs {
			s.decode(doc)
		}
	}
	if *helmValues != "" {
		s.helm(*helmValues)
	}
	s.checkPlugins()
	out, _ := json.MarshalIndent(s.report, "", "  ")
	fmt.Println(string(out))
	if len(s.report.Problems) > 0 {
		os.Exit(1)
	}
}

// fail records err, if any, and says whether all went well.
func (s *state) fail(err error) bool {
	if err != nil {
		s.report.Problems = append(s.report.Problems, err.Error())
		return false
	}
	return true
}

func readDocuments(file string) ([]document, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	reader := utilyaml.NewYAMLReader(bufio.NewReader(f))
	var docs []document
	for {
		raw, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		var meta struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Metadata   struct {
				Name         string `json:"name"`
				GenerateName string `json:"generateName"`
			} `json:"metadata"`
		}
		if err := yaml.Unmarshal(raw, &meta); err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		if meta.Kind == "" && len(bytes.TrimSpace(stripComments(raw))) == 0 {
			continue // only comments
		}
		name := meta.Metadata.Name
		if name == "" {
			name = meta.Metadata.GenerateName
		}
		docs = append(docs, document{File: file, Kind: meta.APIVersion + "/" + meta.Kind, Name: name, raw: raw})
	}
}

func stripComments(raw []byte) []byte {
	var kept []string
	for _, line := range strings.Split(string(raw), "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			kept = append(kept, line)
		}
	}
	return []byte(strings.Join(kept, "\n"))
}

// strict decodes as the API server's strict field validation does: field
// names are case-sensitive, and unknown and duplicate fields are errors.
func strict(doc document, into any) error {
	data, err := yaml.YAMLToJSON(doc.raw)
	if err == nil {
		var strictErrors []error
		strictErrors, err = kjson.UnmarshalStrict(data, into, kjson.DisallowDuplicateFields, kjson.DisallowUnknownFields)
		if err == nil {
			err = errors.Join(strictErrors...)
		}
	}
	if err != nil {
		return fmt.Errorf("%s: %s %q: %w", doc.File, doc.Kind, doc.Name, err)
	}
	return nil
}

func (s *state) decode(doc document) {
	var err error
	switch doc.Kind {
	case "v1/ConfigMap":
		var cm corev1.ConfigMap
		if err = strict(doc, &cm); err == nil {
			err = s.argoConfig(doc, &cm)
		}
	case "apps/v1/Deployment":
		err = s.deployment(doc)
	case "rbac.authorization.k8s.io/v1/Role":
		err = strict(doc, &rbacv1.Role{})
	case "rbac.authorization.k8s.io/v1/RoleBinding":
		err = strict(doc, &rbacv1.RoleBinding{})
	case "argoproj.io/v1alpha1/Workflow":
		err = strict(doc, &wfv1.Workflow{})
	case "argoproj.io/v1alpha1/WorkflowTemplate":
		err = strict(doc, &wfv1.WorkflowTemplate{})
	case "argoproj.io/v1alpha1/ClusterWorkflowTemplate":
		err = strict(doc, &wfv1.ClusterWorkflowTemplate{})
	case "argoproj.io/v1alpha1/CronWorkflow":
		err = strict(doc, &wfv1.CronWorkflow{})
	default:
		err = fmt.Errorf("%s: %s %q is not a kind this check knows", doc.File, doc.Kind, doc.Name)
	}
	if s.fail(err) {
		s.report.Documents = append(s.report.Documents, doc)
	}
}

// deployment decodes a Deployment, or applies a patch of one to --base.
func (s *state) deployment(doc document) error {
	var d appsv1.Deployment
	if err := strict(doc, &d); err != nil {
		return err
	}
	base, isPatch := s.deployments[d.Name]
	if !isPatch || d.Spec.Selector != nil {
		s.deployments[d.Name] = &d
		return nil
	}
	original, _ := json.Marshal(base)
	patch, err := yaml.YAMLToJSON(doc.raw)
	if err != nil {
		return err
	}
	merged, err := strategicpatch.StrategicMergePatch(original, patch, appsv1.Deployment{})
	if err != nil {
		return fmt.Errorf("%s: the patch of Deployment %q does not apply: %w", doc.File, d.Name, err)
	}
	var result appsv1.Deployment
	if err := json.Unmarshal(merged, &result); err != nil {
		return err
	}
	s.deployments[d.Name] = &result
	return nil
}

// argoConfig reads a controller ConfigMap the way Argo's config controller
// does (config/controller.go parseConfigMap): one `config` key holding it
// all, or one key per setting; strictly, so an unknown setting is an error.
func (s *state) argoConfig(doc document, cm *corev1.ConfigMap) error {
	_, registers := cm.Data["artifactDrivers"]
	if _, whole := cm.Data["config"]; !registers && !whole && cm.Name != "workflow-controller-configmap" {
		return nil
	}
	raw, whole := cm.Data["config"]
	if whole && len(cm.Data) != 1 {
		return fmt.Errorf("%s: ConfigMap %q: Argo refuses a `config` key beside other keys", doc.File, cm.Name)
	}
	if !whole {
		for name, value := range cm.Data {
			if strings.Contains(value, "\n") {
				raw += name + ":\n  " + strings.Join(strings.Split(strings.Trim(value, "\n"), "\n"), "\n  ") + "\n"
			} else {
				raw += name + ": " + value + "\n"
			}
		}
	}
	var c config.Config
	if err := yaml.UnmarshalStrict([]byte(raw), &c); err != nil {
		return fmt.Errorf("%s: ConfigMap %q is not a valid Argo controller configuration: %w", doc.File, cm.Name, err)
	}
	s.configs = append(s.configs, &c)
	return nil
}
