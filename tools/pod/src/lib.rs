// SPDX-License-Identifier: GPL-2.0
//! HeteroK8s's pod logic, pure and tested in userspace: which of a Kubernetes pod's containers
//! run on the DPU. [`manifest`] reads a Pod manifest into what [`plan`] decides on, with the
//! resource quantities of [`quantity`]; [`cni`] is the CNI protocol the split pod's plugin speaks;
//! [`node`] what a node's host and DPU sides say of its pods, and [`podman`] what the runtime says;
//! [`usage`] what a trial run's containers used, which the planner may take for their requests;
//! [`auth`] how the DPU's agent knows that a request comes from its host.

pub mod auth;
pub mod cni;
pub mod manifest;
pub mod node;
pub mod plan;
pub mod podman;
pub mod quantity;
pub mod usage;
