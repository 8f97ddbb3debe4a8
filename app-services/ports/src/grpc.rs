//! gRPC adapters of the ports.
