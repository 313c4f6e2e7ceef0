package artifactpb

import (
	"os/exec"
	"testing"
)

// TestGeneratedCodeIsCurrent fails when artifact.proto or the generators
// changed without regenerating this package.
func TestGeneratedCodeIsCurrent(t *testing.T) {
	out, err := exec.Command("../generate.sh", "--check").CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
}
