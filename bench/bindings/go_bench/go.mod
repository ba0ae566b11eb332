module ssabench

go 1.19

require ssa v0.0.0

replace ssa => ../../../bindings/go
