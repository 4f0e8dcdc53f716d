package coordinator

import (
	"fmt"

	"github.com/pandodb/pando/dvv"
	"github.com/pandodb/pando/internal/api"
	"github.com/pandodb/pando/internal/transport/nodepb"
)

// The coordinator works on its own types (writeReq, writeResult); these
// convert them to and from the node-to-node protocol, for a write forwarded
// to a coordinating replica.

var wireOps = map[writeOp]nodepb.WriteOp{
	opPut:    nodepb.WriteOp_WRITE_OP_PUT,
	opDelete: nodepb.WriteOp_WRITE_OP_DELETE,
	opExpire: nodepb.WriteOp_WRITE_OP_EXPIRE,
	opUpdate: nodepb.WriteOp_WRITE_OP_UPDATE,
}

func (q *writeReq) toWire() *nodepb.WriteRequest {
	m := &nodepb.WriteRequest{
		Namespace: q.ns, Key: q.key, Op: wireOps[q.op], Value: q.value,
		ExpireAt: q.expireAt, KeepTtl: q.keepTTL, Cond: nodepb.Cond(q.cond), ExpireCond: nodepb.ExpireCond(q.expireCond),
		ReturnOld: q.returnOld, HasContext: q.hasCtx, W: uint32(q.w), R: uint32(q.r), RequestId: q.requestID,
	}
	if q.hasCtx {
		m.Context = q.ctx.Encode()
	}
	if q.op == opUpdate {
		m.TypeOp = opToWire(q.typeOp)
	}
	return m
}

func writeFromWire(m *nodepb.WriteRequest) (*writeReq, error) {
	q := &writeReq{
		ns: m.Namespace, key: m.Key, value: m.Value, expireAt: m.ExpireAt, keepTTL: m.KeepTtl,
		cond: api.Cond(m.Cond), expireCond: api.ExpireCond(m.ExpireCond), returnOld: m.ReturnOld,
		hasCtx: m.HasContext, r: max(1, int(m.R)), w: int(m.W), requestID: m.RequestId,
	}
	for op, w := range wireOps {
		if w == m.Op {
			q.op = op
		}
	}
	if q.op == 0 {
		return nil, fmt.Errorf("%w: unknown write op %v", api.ErrInvalidArgument, m.Op)
	}
	q.typeOp = opFromWire(m.TypeOp)
	if q.hasCtx {
		var err error
		if q.ctx, err = dvv.DecodeContext(m.Context); err != nil {
			return nil, fmt.Errorf("%w: bad context: %v", api.ErrInvalidArgument, err)
		}
	}
	return q, nil
}

func (res writeResult) toWire() *nodepb.WriteResponse {
	return &nodepb.WriteResponse{Applied: res.applied, OldFound: res.oldFound, OldValue: res.old.Value, OldExpireAt: res.old.ExpireAt, Context: res.ctx, N: res.n}
}

func resultFromWire(m *nodepb.WriteResponse) writeResult {
	return writeResult{applied: m.Applied, oldFound: m.OldFound, old: api.Entry{Value: m.OldValue, ExpireAt: m.OldExpireAt}, ctx: m.Context, n: m.N}
}

func opToWire(o api.Op) *nodepb.TypeOp {
	return &nodepb.TypeOp{Kind: uint32(o.Kind), Delta: o.Delta, Field: o.Field, Members: o.Members, Values: o.Values}
}

func opFromWire(o *nodepb.TypeOp) api.Op {
	if o == nil {
		return api.Op{}
	}
	return api.Op{Kind: api.OpKind(o.Kind), Delta: o.Delta, Field: o.Field, Members: o.Members, Values: o.Values}
}
