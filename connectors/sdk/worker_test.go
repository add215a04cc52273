package sdk

import (
	"strings"
	"testing"
)

func TestWorkerSpec(t *testing.T) {
	t.Parallel()
	sink := Spec{Name: "s", Kind: KindSink, Summary: "s"}
	ws := sink.WorkerSpec()
	if err := CheckSpec(ws); err != nil {
		t.Fatal(err)
	}
	cfg, err := ws.Validate(nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Int(SettingTasks) != 1 || cfg.Int(SettingBatchSize) != 4096 || cfg.String(SettingTolerance) != "none" ||
		cfg.Int(SettingRetries) != 5 || cfg.String(SettingStart) != "earliest" || cfg.Has(SettingGroup) {
		t.Fatalf("defaults: %+v", cfg)
	}
	if ws.Field(SettingGroup) == nil || (Spec{Kind: KindSource}).WorkerSpec().Field(SettingGroup) != nil {
		t.Fatal("group is a sink's setting only")
	}
	for raw, want := range map[string]map[string]any{
		"tasks: must be between 1 and 256, not 0":                                    {SettingTasks: 0},
		"batch.size: must be between 1 and 65536, not 0":                             {SettingBatchSize: 0},
		"errors.dead_letter_topic: unused with tolerance: none":                      {SettingDeadLetterTopic: "dlq"},
		"errors.retry_max_backoff: 1s is less than retry_backoff 10s":                {SettingRetryBackoff: "10s", SettingRetryMaxBackoff: "1s"},
		`group: "a.b" must be`:                                                       {SettingGroup: "a.b"},
		`errors.tolerance: must be one of none, all, not "al" (did you mean "all"?)`: {SettingTolerance: "al"},
	} {
		if _, err := ws.Validate(want); err == nil || !strings.Contains(err.Error(), raw) {
			t.Errorf("%v: got %v, want %q", want, err, raw)
		}
	}
	if _, err := ws.Validate(map[string]any{SettingRetries: 0}); err != nil {
		t.Errorf("retries 0: %v", err)
	}
	one := Spec{Name: "audit", Kind: KindSink, Summary: "s", MaxTasks: 1}.WorkerSpec()
	if _, err := one.Validate(map[string]any{SettingTasks: 2}); err == nil || !strings.Contains(err.Error(), "tasks: must be 1, not 2") {
		t.Fatalf("MaxTasks: %v", err)
	}
}
