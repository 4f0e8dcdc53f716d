package resp

import (
	"fmt"

	"github.com/pandodb/pando/internal/api"
	"github.com/pandodb/pando/quorum"
)

// Catalog tells the front end which namespaces exist.
type Catalog interface {
	// Namespace describes a namespace, or reports that it does not exist.
	Namespace(name string) (api.NamespaceInfo, bool)
	// NamespaceByDB finds a namespace by its number (SELECT n).
	NamespaceByDB(db int) (string, bool)
	// Databases is one more than the highest namespace number: what
	// SELECT accepts, Redis's "databases".
	Databases() int
}

// cmdNamespace: NAMESPACE [name]. With a name, switches the connection's
// namespace; without, returns the current one.
func cmdNamespace(c *conn, args [][]byte) error {
	if len(args) == 1 {
		c.w.WriteBulkString(c.ns)
		return nil
	}
	if len(args) != 2 {
		return wrongArity("namespace")
	}
	name := string(args[1])
	if c.s.cfg.Catalog != nil {
		if _, ok := c.s.cfg.Catalog.Namespace(name); !ok {
			return fmt.Errorf("%w: %q (create it with: pando ns create %s)", api.ErrNoNamespace, sanitize(args[1]), sanitize(args[1]))
		}
	}
	c.setNamespace(name)
	c.w.WriteString("OK")
	return nil
}

// cmdSelect: SELECT db switches to the namespace with that number; 0 is
// default.
func cmdSelect(c *conn, args [][]byte) error {
	n, err := parseInt(args[1])
	if err != nil {
		return errNotInt
	}
	if n == 0 {
		c.setNamespace("default")
		c.w.WriteString("OK")
		return nil
	}
	if c.s.cfg.Catalog != nil && n > 0 && n < 1<<20 {
		if name, ok := c.s.cfg.Catalog.NamespaceByDB(int(n)); ok {
			c.setNamespace(name)
			c.w.WriteString("OK")
			return nil
		}
	}
	return replyError("ERR DB index is out of range")
}

// cmdConsistency: CONSISTENCY [level | r w]. Sets the connection's read and
// write levels (one, quorum, all or a number), as cqlsh's CONSISTENCY does;
// without arguments returns them.
func cmdConsistency(c *conn, args [][]byte) error {
	switch len(args) {
	case 1:
		c.w.WriteArray(2)
		c.w.WriteBulkString(c.ro.R.Or(quorum.Quorum).String())
		c.w.WriteBulkString(c.wo.W.Or(quorum.Quorum).String())
		return nil
	case 2, 3:
		r, err := quorum.Parse(string(args[1]))
		if err != nil || r.IsDefault() {
			return fmt.Errorf("%w: %q is not one, quorum, all or a number", api.ErrInvalidArgument, sanitize(args[1]))
		}
		wl := r
		if len(args) == 3 {
			if wl, err = quorum.Parse(string(args[2])); err != nil || wl.IsDefault() {
				return fmt.Errorf("%w: %q is not one, quorum, all or a number", api.ErrInvalidArgument, sanitize(args[2]))
			}
		}
		// A level the namespace cannot meet is refused now, not by the next
		// command.
		if c.s.cfg.Catalog != nil {
			if info, ok := c.s.cfg.Catalog.Namespace(c.ns); ok {
				for _, l := range []quorum.Level{r, wl} {
					if _, err := l.Required(info.N); err != nil {
						return fmt.Errorf("%w: namespace %s: %v", api.ErrInvalidArgument, c.ns, err)
					}
				}
			}
		}
		// Writes read at the connection's read level first (api.WriteOptions.R).
		c.ro.R, c.wo.R, c.wo.W = r, r, wl
		c.w.WriteString("OK")
		return nil
	}
	return wrongArity("consistency")
}

// cmdSiblings: SIBLINGS key. Replies with the key's context and every
// concurrent value: *2, then the context (a bulk string to pass back to
// PUTCTX or DELCTX), then an array of the values.
func cmdSiblings(c *conn, args [][]byte) error {
	key, err := c.key(args[1])
	if err != nil {
		return err
	}
	vs, err := c.s.cfg.KV.GetVersions(c.s.ctx, c.ns, key, c.ro)
	if err != nil {
		return err
	}
	c.w.WriteArray(2)
	c.w.WriteBulkString(vs.Context)
	c.w.WriteArray(len(vs.Values))
	for _, v := range vs.Values {
		c.w.WriteBulk(v.Value)
	}
	return nil
}

// keyAndContext reads the key and causal context arguments of PUTCTX and
// DELCTX (args[1] and args[2]). The context is the token SIBLINGS returned;
// the empty string is the empty context (concurrent with every version).
func (c *conn) keyAndContext(args [][]byte) (key []byte, ctxTok string, err error) {
	if key, err = c.key(args[1]); err != nil {
		return nil, "", err
	}
	if len(args[2]) > 1<<16 {
		return nil, "", fmt.Errorf("%w: context too long", api.ErrInvalidArgument)
	}
	return key, string(args[2]), nil
}

// cmdPutCtx: PUTCTX key context value [EX s | PX ms]. Writes value
// superseding exactly the versions the context (from SIBLINGS) covers.
func cmdPutCtx(c *conn, args [][]byte) error {
	key, ctxTok, err := c.keyAndContext(args)
	if err != nil {
		return err
	}
	if err := c.s.cfg.Limits.CheckValue(len(args[3])); err != nil {
		return err
	}
	opts := api.PutOptions{Write: c.wo}
	opts.Write.Context, opts.Write.HasContext = ctxTok, true
	rest := args[4:]
	switch {
	case len(rest) == 0:
	case len(rest) == 2 && (eq(rest[0], "ex") || eq(rest[0], "px")):
		if opts.ExpireAt, err = c.expiryArg(rest[0], rest[1], "putctx"); err != nil {
			return err
		}
	default:
		return errSyntax
	}
	if _, err := c.s.cfg.KV.Put(c.s.ctx, c.ns, key, args[3], opts); err != nil {
		return err
	}
	c.w.WriteString("OK")
	return nil
}

// cmdDelCtx: DELCTX key context. Deletes the versions the context covers.
func cmdDelCtx(c *conn, args [][]byte) error {
	key, ctxTok, err := c.keyAndContext(args)
	if err != nil {
		return err
	}
	wo := c.wo
	wo.Context, wo.HasContext = ctxTok, true
	_, found, err := c.s.cfg.KV.Delete(c.s.ctx, c.ns, key, wo)
	if err != nil {
		return err
	}
	c.w.WriteInt(boolInt(found))
	return nil
}
