// ONNX Runtime (1.29+ on Linux) starts a telemetry uploader with the first session unless
// ORT_DISABLE_TELEMETRY is set: it sends events to Microsoft's collector, reads /etc/machine-id and
// writes /tmp/mat-debug-<pid>.log and ~/.cache/Microsoft/DeveloperTools/.onnxruntime/onnxruntime.db.
// A self-hosted embedding server must not call out of the cluster or write outside its volumes, so
// it is off unless the operator of the process set the variable themselves (ORT_DISABLE_TELEMETRY=0
// turns it back on). ONNX Runtime reads the variable natively when its environment is created, so
// this module must be evaluated, in the main thread, before onnxruntime-node is loaded: the
// inference worker threads see the process environment the main thread sets here.
process.env.ORT_DISABLE_TELEMETRY ??= "1";
