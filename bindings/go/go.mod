module ssa

go 1.19
