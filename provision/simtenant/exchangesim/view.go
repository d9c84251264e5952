package exchangesim

// view is a copy of the state and the faults, taken under s.mu and rendered without it.
// Rendering asks the directory, and the simulated tenant's directory takes the tenant's lock,
// which the tenant holds while it snapshots this server to save its state: holding s.mu
// across a directory call would let a save and a read deadlock each other.
type view struct {
	dir        Directory
	state      State
	faults     Faults
	serverName string
}

func (s *Server) view() view {
	s.mu.Lock()
	defer s.mu.Unlock()
	return view{dir: s.dir, state: s.copyLocked(), faults: s.faults, serverName: s.opts.ServerName}
}
