"""The gRPC check API through an independent client: Python grpcio with stubs generated here,
at test time, from the committed crates/grpc/proto by grpcio-tools.

Usage: client_test.py <host:port> <operator-token> <outsider-session> <proto-dir> <stub-dir>.
The operator administers organization `acme`; the outsider (`bob`) belongs to no org.
Every assertion failure exits non-zero with what differed.
"""

import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)
from grpc_status import rpc_status
from grpc_tools import protoc
from google.rpc import error_details_pb2

target, operator, outsider, proto_dir, stub_dir = sys.argv[1:6]

if protoc.main(["protoc", f"-I{proto_dir}", f"--python_out={stub_dir}",
                f"--grpc_python_out={stub_dir}", "portcullis/v1/check.proto"]) != 0:
    sys.exit("grpcio-tools could not compile the committed .proto")
sys.path.insert(0, stub_dir)
from portcullis.v1 import check_pb2 as pb  # noqa: E402
from portcullis.v1 import check_pb2_grpc  # noqa: E402

channel = grpc.insecure_channel(target)
stub = check_pb2_grpc.CheckServiceStub(channel)
checked = 0


def auth(token, *extra):
    return (("authorization", f"Bearer {token}"),) + extra


def expect(condition, what):
    global checked
    if not condition:
        sys.exit(f"FAILED: {what}")
    checked += 1


def ask(user, permission, org=None, app=None):
    resource = pb.Resource(org=org) if app is None else \
        pb.Resource(app=pb.AppResource(account=org, app=app))
    return pb.CheckRequest(subject=pb.Subject(user=user), permission=permission, resource=resource)


def refused(call, request, metadata, code, reason):
    """Calls, expects an error status `code` with an ErrorInfo of `reason`; its metadata."""
    try:
        call(request, metadata=metadata)
    except grpc.RpcError as err:
        expect(err.code() == code, f"{reason}: status {err.code()}, wanted {code}")
        status = rpc_status.from_call(err)
        expect(status is not None, f"{reason}: no google.rpc.Status in grpc-status-details-bin")
        for detail in status.details:
            if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                info = error_details_pb2.ErrorInfo()
                detail.Unpack(info)
                expect(info.domain == "portcullis", f"{reason}: domain {info.domain}")
                expect(info.reason == reason, f"reason {info.reason}, wanted {reason}")
                return dict(info.metadata)
        sys.exit(f"FAILED: {reason}: no ErrorInfo in {status}")
    sys.exit(f"FAILED: {reason}: the call succeeded")


# Allowed, with the grant path; denied, with the reason.
answer = stub.Check(ask("operator", "org.manage", org="acme"), metadata=auth(operator))
expect(answer.allowed and list(answer.via) == ["role:admin"], f"operator on acme: {answer}")
expect(not answer.HasField("reason") and answer.revision > 0, f"allowed answer: {answer}")
answer = stub.Check(ask("bob", "org.manage", org="acme"), metadata=auth(operator))
expect(not answer.allowed and answer.reason == "not_member", f"bob on acme: {answer}")

# Errors: google.rpc.Status with the HTTP API's problem codes.
refused(stub.Check, ask("operator", "org.manage", org="acme"), (), grpc.StatusCode.UNAUTHENTICATED,
        "auth.required")
refused(stub.Check, ask("operator", "org.manage", org="acme"), auth("pcl_pat_forged"),
        grpc.StatusCode.UNAUTHENTICATED, "auth.required")
refused(stub.Check, ask("operator", "org.manage", org="acme"), auth(outsider),
        grpc.StatusCode.NOT_FOUND, "not_found")
meta = refused(stub.Check, pb.CheckRequest(permission="org.manage", resource=pb.Resource(org="acme")),
               auth(operator), grpc.StatusCode.INVALID_ARGUMENT, "check.invalid_request")
expect(meta.get("field") == "subject", f"field of a missing subject: {meta}")
meta = refused(stub.Check, ask("operator", "org.fly", org="acme"), auth(operator),
               grpc.StatusCode.INVALID_ARGUMENT, "check.unknown_permission")
expect(meta.get("field") == "permission", f"field of an unknown permission: {meta}")
refused(stub.Check, ask("operator", "org.manage", org="acme"),
        auth(operator, ("portcullis-revision", str(2**62))), grpc.StatusCode.UNAVAILABLE,
        "consistency.revision_unavailable")

# A batch: a decision per check, or that check's own problem.
batch = stub.CheckBatch(pb.CheckBatchRequest(checks=[
    ask("operator", "app.view", org="acme", app="vision"),
    ask("nobody", "app.view", org="acme", app="vision"),
]), metadata=auth(operator))
expect(len(batch.results) == 2, f"batch size: {batch}")
expect(batch.results[0].WhichOneof("result") == "decision" and batch.results[0].decision.allowed,
       f"first batch answer: {batch.results[0]}")
expect(batch.results[1].WhichOneof("result") == "error"
       and batch.results[1].error.code == "not_found"
       and batch.results[1].error.status == grpc.StatusCode.NOT_FOUND.value[0],
       f"second batch answer: {batch.results[1]}")

# The caller's own permissions, as GET /v1/me/permissions.
mine = stub.LookupPermissions(pb.LookupPermissionsRequest(account="acme"), metadata=auth(operator))
expect("org.manage" in mine.permissions and "authz.check" in mine.permissions,
       f"operator's permissions: {mine}")
refused(stub.LookupPermissions, pb.LookupPermissionsRequest(account="acme", app="vision"), (),
        grpc.StatusCode.NOT_FOUND, "not_found")

# Health checking and reflection.
health = health_pb2_grpc.HealthStub(channel)
for service in ("", "portcullis.v1.CheckService"):
    status = health.Check(health_pb2.HealthCheckRequest(service=service)).status
    expect(status == health_pb2.HealthCheckResponse.SERVING, f"health of {service!r}: {status}")
services = ProtoReflectionDescriptorDatabase(channel).get_services()
expect("portcullis.v1.CheckService" in services, f"reflection lists {services}")

print(f"grpc client test: {checked} passed, 0 failed")
