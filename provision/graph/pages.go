package graph

import (
	"context"

	"github.com/microsoft/kiota-abstractions-go/serialization"
	msgraphcore "github.com/microsoftgraph/msgraph-sdk-go-core"
)

// Page is a Graph collection response: one page of items and the link to the next.
type Page[M any] interface {
	serialization.Parsable
	GetValue() []M
	GetOdataNextLink() *string
}

// AllItems returns the items of p and of the pages its next links lead to, each one more
// round trip through c (so under its retry policy); a page without a next link costs none.
// The caller adds what was being read to the error.
func AllItems[M serialization.Parsable, P Page[M]](ctx context.Context, c *Client, p P, ctor serialization.ParsableFactory) ([]M, error) {
	if p.GetOdataNextLink() == nil {
		return p.GetValue(), nil
	}
	iter, err := msgraphcore.NewPageIterator[M](p, c.Adapter, ctor)
	if err != nil {
		return nil, err
	}
	var out []M
	if err := iter.Iterate(ctx, func(m M) bool { out = append(out, m); return true }); err != nil {
		return nil, Wrap(err)
	}
	return out, nil
}
