package registry

import (
	"context"
	"slices"
)

// DeleteSubject soft-deletes every version of subject, or, with permanent,
// removes a subject that was soft-deleted first. It returns the versions.
func (r *Registry) DeleteSubject(ctx context.Context, subject string, permanent bool) ([]int, error) {
	if err := r.writable(ctx, subject); err != nil {
		return nil, err
	}
	var out []int
	err := r.updateSubject(ctx, subject, func(d *subjectDoc) error {
		out = out[:0]
		if len(d.Versions) == 0 {
			return errSubjectNotFound(subject)
		}
		live := d.live()
		if !permanent && len(live) == 0 {
			return newErr(CodeSubjectSoftDeleted,
				"Subject '%s' was soft deleted.Set permanent=true to delete permanently", subject)
		}
		if permanent && len(live) > 0 {
			return newErr(CodeSubjectNotSoftDeleted,
				"Subject '%s' was not deleted first before being permanently deleted", subject)
		}
		for _, v := range d.Versions {
			if err := r.notReferenced(ctx, subject, v.Version); err != nil {
				return err
			}
		}
		for i := range d.Versions {
			out = append(out, d.Versions[i].Version)
			d.Versions[i].Deleted = true
		}
		if permanent {
			d.Versions = nil
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	r.log.Info("schema subject deleted", "subject", subject, "permanent", permanent)
	return out, nil
}

// DeleteVersion soft-deletes one version (a number or Latest), or, with
// permanent, removes a version that was soft-deleted first.
func (r *Registry) DeleteVersion(ctx context.Context, subject string, version int, permanent bool) (int, error) {
	if err := r.writable(ctx, subject); err != nil {
		return 0, err
	}
	var deleted int
	err := r.updateSubject(ctx, subject, func(d *subjectDoc) error {
		if len(d.Versions) == 0 {
			return errSubjectNotFound(subject)
		}
		var e *versionEntry
		if version == Latest {
			if live := d.live(); len(live) > 0 {
				e = d.find(live[len(live)-1].Version)
			}
		} else if version <= 0 {
			return newErr(CodeInvalidVersion, "The specified version '%d' is not a valid version id.", version)
		} else {
			e = d.find(version)
		}
		switch {
		case e == nil:
			return errVersionNotFound(version)
		case e.Deleted && !permanent:
			return newErr(CodeVersionSoftDeleted,
				"Subject '%s' Version %d was soft deleted.Set permanent=true to delete permanently", subject, e.Version)
		case !e.Deleted && permanent:
			return newErr(CodeVersionNotSoftDeleted,
				"Subject '%s' Version %d was not deleted first before being permanently deleted", subject, e.Version)
		}
		if err := r.notReferenced(ctx, subject, e.Version); err != nil {
			return err
		}
		deleted = e.Version
		e.Deleted = true
		if permanent {
			d.Versions = slices.DeleteFunc(d.Versions, func(v versionEntry) bool { return v.Version == deleted })
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	r.log.Info("schema version deleted", "subject", subject, "version", deleted, "permanent", permanent)
	return deleted, nil
}

func (r *Registry) writable(ctx context.Context, subject string) error {
	mode, err := r.Mode(ctx, subject, true)
	if err != nil {
		return err
	}
	if mode == ReadOnly {
		return newErr(CodeOperationNotPermitted, "Subject %s is in read-only mode", subject)
	}
	return nil
}

// notReferenced refuses to delete a version other schemas import.
func (r *Registry) notReferenced(ctx context.Context, subject string, version int) error {
	ids, err := r.ReferencedBy(ctx, subject, version)
	if err != nil {
		return err
	}
	if len(ids) > 0 {
		return newErr(CodeReferenceExists,
			"One or more references exist to the schema {subject=%s,version=%d}: ids %v", subject, version, ids)
	}
	return nil
}

// ReferencedBy lists the ids of live schemas that reference subject/version.
func (r *Registry) ReferencedBy(ctx context.Context, subject string, version int) ([]int, error) {
	out := []int{}
	err := r.eachVersion(ctx, func(s string, v versionEntry) error {
		st, err := r.SchemaByID(ctx, v.ID)
		if err != nil {
			return err
		}
		for _, ref := range st.References {
			if ref.Subject == subject && ref.Version == version && !slices.Contains(out, v.ID) {
				out = append(out, v.ID)
			}
		}
		return nil
	})
	slices.Sort(out)
	return out, err
}

// eachVersion calls fn for every live version of every subject.
func (r *Registry) eachVersion(ctx context.Context, fn func(subject string, v versionEntry) error) error {
	subjects, err := r.Subjects(ctx, "", false)
	if err != nil {
		return err
	}
	for _, s := range subjects {
		d, _, err := r.loadSubject(ctx, s)
		if err != nil {
			return err
		}
		for _, v := range d.live() {
			if err := fn(s, v); err != nil {
				return err
			}
		}
	}
	return nil
}

// VersionsOfID lists the subject versions that use schema id.
func (r *Registry) VersionsOfID(ctx context.Context, id int) ([]SubjectVersion, error) {
	if _, err := r.SchemaByID(ctx, id); err != nil {
		return nil, err
	}
	out := []SubjectVersion{}
	err := r.eachVersion(ctx, func(s string, v versionEntry) error {
		if v.ID == id {
			out = append(out, SubjectVersion{Subject: s, Version: v.Version})
		}
		return nil
	})
	return out, err
}
