module example.com/frames/spread

go 1.25

require mfw.dev/sdk v0.0.0

require go.bytecodealliance.org/pkg v0.2.3 // indirect

replace mfw.dev/sdk => ../../../guest-sdks/go
