// Stand-in for inet.af/netaddr, which no package of node-cache imports; see ../go.mod.
module inet.af/netaddr

go 1.12
