package registry

import (
	"context"
	"encoding/json"
	"errors"
)

type configDoc struct {
	Compatibility Level `json:"compatibilityLevel"`
}

type modeDoc struct {
	Mode Mode `json:"mode"`
}

// Compatibility returns the level of subject ("" for the global level). With
// fallback, a subject without its own level gets the global one; without, it
// fails with 40408.
func (r *Registry) Compatibility(ctx context.Context, subject string, fallback bool) (Level, error) {
	var c configDoc
	key, err := scopedKey(keyConfig, subject)
	if err != nil {
		return "", err
	}
	_, err = r.getJSON(ctx, key, &c)
	switch {
	case err == nil:
		return c.Compatibility, nil
	case !errors.Is(err, ErrKeyNotFound):
		return "", errStore("reading compatibility", err)
	case subject == "":
		return DefaultLevel, nil
	case !fallback:
		return "", newErr(CodeSubjectCompatNotConfigured,
			"Subject '%s' does not have subject-level compatibility configured", subject)
	}
	return r.Compatibility(ctx, "", false)
}

// SetCompatibility sets the level of subject ("" for the global level).
func (r *Registry) SetCompatibility(ctx context.Context, subject string, level Level) error {
	if _, err := ParseLevel(string(level)); err != nil {
		return err
	}
	key, err := scopedKey(keyConfig, subject)
	if err != nil {
		return err
	}
	b, _ := json.Marshal(configDoc{Compatibility: level})
	if _, err := r.store.Put(ctx, key, b); err != nil {
		return errStore("writing compatibility", err)
	}
	r.log.Info("schema compatibility set", "subject", subject, "level", level)
	return nil
}

// DeleteCompatibility removes a subject's own level (or resets the global
// one to the default) and returns the level it had.
func (r *Registry) DeleteCompatibility(ctx context.Context, subject string) (Level, error) {
	old, err := r.Compatibility(ctx, subject, false)
	if err != nil {
		return "", err
	}
	key, _ := scopedKey(keyConfig, subject) // valid: Compatibility read it
	if err := r.store.Delete(ctx, key); err != nil {
		return "", errStore("deleting compatibility", err)
	}
	return old, nil
}

// Mode returns the mode of subject ("" for the global mode), falling back to
// the global mode when asked; otherwise a subject without one fails with 40409.
func (r *Registry) Mode(ctx context.Context, subject string, fallback bool) (Mode, error) {
	var m modeDoc
	key, err := scopedKey(keyMode, subject)
	if err != nil {
		return "", err
	}
	_, err = r.getJSON(ctx, key, &m)
	switch {
	case err == nil:
		return m.Mode, nil
	case !errors.Is(err, ErrKeyNotFound):
		return "", errStore("reading mode", err)
	case subject == "":
		return ReadWrite, nil
	case !fallback:
		return "", newErr(CodeSubjectModeNotConfigured, "Subject '%s' does not have subject-level mode configured", subject)
	}
	return r.Mode(ctx, "", false)
}

// SetMode sets the mode of subject ("" for global). Switching to IMPORT
// requires no schemas to exist there unless force is set.
func (r *Registry) SetMode(ctx context.Context, subject string, mode Mode, force bool) error {
	if _, err := ParseMode(string(mode)); err != nil {
		return err
	}
	key, err := scopedKey(keyMode, subject)
	if err != nil {
		return err
	}
	if mode == Import && !force {
		var subjects []string
		var err error
		if subject == "" {
			subjects, err = r.Subjects(ctx, "", true)
		} else if _, err = r.Versions(ctx, subject, true); err == nil {
			subjects = []string{subject}
		} else if errors.Is(err, ErrSubjectNotFound) {
			err = nil
		}
		if err != nil {
			return err
		}
		if len(subjects) > 0 {
			return newErr(CodeOperationNotPermitted,
				"Cannot import since found existing subjects; use force=true to switch to IMPORT mode anyway")
		}
	}
	b, _ := json.Marshal(modeDoc{Mode: mode})
	if _, err := r.store.Put(ctx, key, b); err != nil {
		return errStore("writing mode", err)
	}
	r.log.Info("schema registry mode set", "subject", subject, "mode", mode)
	return nil
}

// DeleteMode removes a subject's own mode and returns the mode it had.
func (r *Registry) DeleteMode(ctx context.Context, subject string) (Mode, error) {
	old, err := r.Mode(ctx, subject, false)
	if err != nil {
		return "", err
	}
	key, _ := scopedKey(keyMode, subject) // valid: Mode read it
	if err := r.store.Delete(ctx, key); err != nil {
		return "", errStore("deleting mode", err)
	}
	return old, nil
}
