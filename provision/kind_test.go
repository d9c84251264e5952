package provision

import (
	"slices"
	"testing"

	"github.com/provisionhq/provision/provision/rights"
)

func TestRegistryKeepsTheContract(t *testing.T) {
	claimed := map[rights.Operation]bool{}
	stage, seen := 0, map[Kind]bool{}
	for _, k := range kinds() {
		tr := k.traits()
		for _, op := range tr.operations {
			claimed[op] = true
		}
		if k.name() == "" {
			continue // read-only kinds plan no change and have no stage
		}
		if seen[k.name()] {
			t.Errorf("kind %s is registered twice", k.name())
		}
		seen[k.name()] = true
		if tr.stage < stage {
			t.Errorf("kind %s has stage %d after a kind of stage %d: the registry is in dependency order, so stages only grow", k.name(), tr.stage, stage)
		}
		stage = tr.stage
		if kindNamed(k.name()) != k {
			t.Errorf("kindNamed(%s) does not find it", k.name())
		}
	}
	for _, op := range rights.Operations() {
		if !claimed[op] {
			t.Errorf("no kind performs the rights operation %s: a step of the rights table nothing needs", op)
		}
	}
	var names []Kind
	for _, k := range kinds() {
		if k.name() != "" {
			names = append(names, k.name())
		}
	}
	if !slices.Equal(names, Kinds()) {
		t.Errorf("Kinds() = %v, registry order %v", Kinds(), names)
	}
}
