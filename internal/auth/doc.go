// Package auth is who may do what: users, their password hashes, roles and
// the namespaces a role applies to.
//
// Users are replicated through the metadata log (package metadata holds
// them); each node checks a login against its copy, so a login needs no
// other node. A password is stored only as an argon2id hash (RFC 9106,
// with OWASP's parameters: 19 MiB, 2 passes, 1 lane) with a random salt,
// in the PHC string format ($argon2id$v=19$m=19456,t=2,p=1$salt$hash);
// Verify compares in constant time. Nothing in this package ever puts a
// password or a hash in an error.
//
// Roles: read reads, write reads and writes, admin also manages the
// cluster (namespaces, members, users). A user's role applies to the
// namespaces listed with it, or to every namespace when none is; the
// cluster-wide admin routes need admin on every namespace.
package auth
