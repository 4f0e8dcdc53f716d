package metadata

import "errors"

// Errors of the metadata.
var (
	// ErrInvalid is a namespace or command that makes no sense.
	ErrInvalid = errors.New("invalid")
	// ErrUnsupported is a feature this version does not have.
	ErrUnsupported = errors.New("not supported")
	// ErrExists is a namespace or member that exists already.
	ErrExists = errors.New("already exists")
	// ErrNotInitialized means the cluster has not formed yet.
	ErrNotInitialized = errors.New("cluster not formed yet")
	// ErrNoNamespace is a namespace that does not exist.
	ErrNoNamespace = errors.New("no such namespace")
	// ErrNoQuorum refuses a change the metadata group cannot commit now.
	ErrNoQuorum = errors.New("no quorum")
)
