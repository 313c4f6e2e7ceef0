package main

import (
	"fmt"
	"slices"

	"github.com/argoproj/argo-workflows/v4/config"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"
)

// argoUID is the uid of Argo's images and executor; plugin images run as it
// so that the executor and the plugin can share the socket folder.
const argoUID = 8737

// helmChartValues are the parts of the argo-workflows chart's values that the
// generated values set, with the types the chart's templates give them
// (argo-helm charts/argo-workflows 1.0.18: templates/server/server-deployment.yaml
// appends server.extraContainers to the pod's containers, server.volumes to
// its volumes and server.volumeMounts to the argo-server container's mounts;
// templates/controller/workflow-controller-config-map.yaml renders
// emissary.images as the controller's `images`; templates/extra-manifests.yaml
// renders each of extraObjects).
type helmChartValues struct {
	Server struct {
		ExtraContainers []corev1.Container   `json:"extraContainers"`
		Volumes         []corev1.Volume      `json:"volumes"`
		VolumeMounts    []corev1.VolumeMount `json:"volumeMounts"`
	} `json:"server"`
	Emissary struct {
		Images map[string]config.Image `json:"images"`
	} `json:"emissary"`
	ExtraObjects []map[string]any `json:"extraObjects"`
}

// helm decodes the values and renders their effect on the argo-server base
// Deployment the way the chart's templates do.
func (s *state) helm(file string) {
	docs, err := readDocuments(file)
	if !s.fail(err) || len(docs) != 1 {
		s.fail(fmt.Errorf("%s: expected one YAML document of values", file))
		return
	}
	var values helmChartValues
	if !s.fail(strict(docs[0], &values)) {
		return
	}
	for _, object := range values.ExtraObjects {
		raw, _ := yaml.Marshal(object)
		doc := document{File: file + " extraObjects", raw: raw}
		doc.Kind = fmt.Sprintf("%v/%v", object["apiVersion"], object["kind"])
		if metadata, ok := object["metadata"].(map[string]any); ok {
			doc.Name = fmt.Sprint(metadata["name"])
		}
		s.decode(doc)
	}
	server, ok := s.deployments["argo-server"]
	if !ok {
		s.fail(fmt.Errorf("--helm-values needs --base with the argo-server Deployment"))
		return
	}
	pod := &server.Spec.Template.Spec
	pod.Containers = append(pod.Containers, values.Server.ExtraContainers...)
	pod.Volumes = append(pod.Volumes, values.Server.Volumes...)
	for i := range pod.Containers {
		if pod.Containers[i].Name == "argo-server" {
			pod.Containers[i].VolumeMounts = append(pod.Containers[i].VolumeMounts, values.Server.VolumeMounts...)
		}
	}
	// The chart writes emissary.images into the controller configuration.
	for _, c := range s.configs {
		c.Images = values.Emissary.Images
	}
}

// checkPlugins checks, for every registered plugin, what Argo needs: the
// argo-server pod runs its image (argo-server refuses to start otherwise),
// with the socket path as the only argument, sharing an emptyDir at the
// socket folder with argo-server; non-root as uid 8737 with a writable /tmp;
// the controller knows the image's entrypoint.
func (s *state) checkPlugins() {
	server, ok := s.deployments["argo-server"]
	for _, c := range s.configs {
		for _, driver := range c.ArtifactDrivers {
			contract := pluginContract{
				Name:       string(driver.Name),
				Image:      driver.Image,
				SocketPath: driver.Name.SocketPath(),
				SocketDir:  driver.Name.SocketDir(),
			}
			problem := func(format string, args ...any) {
				s.report.Problems = append(s.report.Problems, fmt.Sprintf("plugin %q: ", driver.Name)+fmt.Sprintf(format, args...))
			}
			volume := driver.Name.Volume()
			for _, message := range validation.IsDNS1123Label(volume.Name) {
				problem("Argo's volume name %q: %s", volume.Name, message)
			}
			if image, known := c.Images[driver.Image]; known {
				contract.Entrypoint = image.Entrypoint
			} else {
				s.report.Warnings = append(s.report.Warnings, fmt.Sprintf("plugin %q: the controller's images has no entry for %s: it must pull the image's manifest to learn the entrypoint", driver.Name, driver.Image))
			}
			s.report.Drivers = append(s.report.Drivers, contract)
			if !ok {
				continue
			}
			s.checkSidecar(server.Spec.Template.Spec, contract, problem)
		}
	}
}

func (s *state) checkSidecar(pod corev1.PodSpec, contract pluginContract, problem func(string, ...any)) {
	index := slices.IndexFunc(pod.Containers, func(c corev1.Container) bool { return c.Image == contract.Image })
	if index < 0 {
		problem("argo-server has no container with image %s: argo-server refuses to start", contract.Image)
		return
	}
	sidecar := pod.Containers[index]
	if len(sidecar.Command) != 0 || !slices.Equal(sidecar.Args, []string{contract.SocketPath}) {
		problem("the sidecar must keep the image's entrypoint and take %s as its only argument, got command %q args %q", contract.SocketPath, sidecar.Command, sidecar.Args)
	}
	volumes := map[string]corev1.Volume{}
	for _, v := range pod.Volumes {
		volumes[v.Name] = v
	}
	mountAt := func(c corev1.Container, path string) (corev1.VolumeMount, bool) {
		i := slices.IndexFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool { return m.MountPath == path })
		if i < 0 {
			return corev1.VolumeMount{}, false
		}
		return c.VolumeMounts[i], true
	}
	socket, found := mountAt(sidecar, contract.SocketDir)
	if !found || volumes[socket.Name].EmptyDir == nil || socket.ReadOnly {
		problem("the sidecar needs a writable emptyDir at %s", contract.SocketDir)
	}
	serverIndex := slices.IndexFunc(pod.Containers, func(c corev1.Container) bool { return c.Name == "argo-server" })
	if serverIndex < 0 {
		problem("the pod has no argo-server container")
	} else if mount, found := mountAt(pod.Containers[serverIndex], contract.SocketDir); !found || mount.Name != socket.Name {
		problem("argo-server must mount the sidecar's socket volume at %s", contract.SocketDir)
	}
	sc := sidecar.SecurityContext
	if sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == nil || *sc.RunAsUser != argoUID {
		problem("the sidecar must run as non-root uid %d", argoUID)
	}
	if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		problem("the sidecar's root file system should be read-only")
	}
	if tmp, found := mountAt(sidecar, "/tmp"); !found || volumes[tmp.Name].EmptyDir == nil || tmp.ReadOnly {
		problem("the sidecar needs a writable emptyDir at /tmp")
	}
	if sidecar.Resources.Requests.Memory().IsZero() || sidecar.Resources.Limits.Memory().IsZero() {
		problem("the sidecar should request and limit memory")
	}
}
