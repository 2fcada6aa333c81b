"""Enrollment: an operator issues a one-time token; a new agent trades it for an identity."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from cna_agent.protocol import EnrollRequest, EnrollResponse, HostFacts, PoolReport
from vrm.agents.credentials import new_host_credential, vrm_credential
from vrm.agents.repository import EnrollmentTokenRepository
from vrm.agents.schemas import EnrollmentTokenCreate
from vrm.audit.service import record
from vrm.auth.principal import Principal
from vrm.auth.security import hash_token, new_token
from vrm.clusters.repository import ClusterRepository
from vrm.crud import ensure_unique, get_or_404, get_ref_or_422
from vrm.errors import Conflict, NotFound, Unauthorized
from vrm.events.emit import emit
from vrm.hosts.repository import HostRepository
from vrm.listing import ListParams
from vrm.models import Cluster, Datastore, EnrollmentToken, Host, HostDatastore
from vrm.models.base import utcnow
from vrm.models.enums import DatastoreType, HostState
from vrm.sites.repository import DEFAULT_SITE_ID
from vrm.storage.repository import DatastoreRepository

KIND = "enrollment token"


def issue_token(
    session: Session, *, actor: Principal, data: EnrollmentTokenCreate, default_ttl_s: int
) -> tuple[EnrollmentToken, str]:
    """Create a one-time token for ``data.cluster_id``; the secret is returned only now."""
    cluster = get_ref_or_422(ClusterRepository(session), data.cluster_id, "cluster", "cluster_id")
    row, secret = _new_token(session, cluster, data.ttl_s or default_ttl_s, actor.user_id)
    record(
        session,
        actor=actor,
        action="enrollment_token.create",
        target_type="cluster",
        target_id=cluster.id,
        details={"token_id": str(row.id)},
    )
    return row, secret


def issue_local_token(
    session: Session, *, cluster_name: str, create_cluster: bool, ttl_s: int
) -> str:
    """A token for the cluster named ``cluster_name`` of the default site (``vrm`` CLI)."""
    clusters = ClusterRepository(session)
    cluster = clusters.get_by(site_id=DEFAULT_SITE_ID, name=cluster_name)
    if cluster is None and not create_cluster:
        raise NotFound(f"no cluster named {cluster_name!r}", code="cluster_not_found")
    if cluster is None:
        cluster = clusters.add(
            Cluster(site_id=DEFAULT_SITE_ID, name=cluster_name),
            conflict=f"a cluster named {cluster_name!r} already exists",
        )
        emit(
            session,
            type="cluster_created",
            message=f"cluster {cluster_name} created by the CLI",
            target_type="cluster",
            target_id=cluster.id,
        )
    return _new_token(session, cluster, ttl_s, None)[1]


def _new_token(
    session: Session, cluster: Cluster, ttl_s: int, creator: uuid.UUID | None
) -> tuple[EnrollmentToken, str]:
    """Store a new token's hash; return the row and the secret."""
    secret = new_token("enroll")
    row = EnrollmentToken(
        token_hash=hash_token(secret),
        cluster_id=cluster.id,
        created_by=creator,
        expires_at=utcnow() + timedelta(seconds=ttl_s),
    )
    EnrollmentTokenRepository(session).add(row, conflict="token collision, try again")
    return row, secret


def list_tokens(session: Session, *, params: ListParams) -> tuple[Sequence[EnrollmentToken], int]:
    """A page of enrollment tokens, newest first."""
    return EnrollmentTokenRepository(session).page(params)


def revoke_token(session: Session, *, actor: Principal, token_id: uuid.UUID) -> None:
    """Delete an enrollment token (used ones stay as history: 409)."""
    repo = EnrollmentTokenRepository(session)
    row = get_or_404(repo, token_id, KIND)
    if row.used_at is not None:
        raise Conflict("this token was already used to enroll a host", code="token_used")
    repo.delete(row, conflict="token in use")
    record(
        session,
        actor=actor,
        action="enrollment_token.delete",
        target_type="cluster",
        target_id=row.cluster_id,
        details={"token_id": str(token_id)},
    )


def _redeem(session: Session, secret: str) -> EnrollmentToken:
    """The token behind ``secret``, now marked used; 401/409 when it cannot be used."""
    repo = EnrollmentTokenRepository(session)
    token_hash = hash_token(secret)
    now = utcnow()
    row = repo.get_by(token_hash=token_hash)
    if row is None:
        raise Unauthorized("unknown enrollment token", code="invalid_enrollment_token")
    if row.used_at is not None:
        raise Conflict("this enrollment token was already used", code="enrollment_token_used")
    if row.expires_at <= now:
        raise Unauthorized("this enrollment token has expired", code="enrollment_token_expired")
    if not repo.consume(token_hash, now):
        raise Conflict("this enrollment token was already used", code="enrollment_token_used")
    return row


def enroll(session: Session, *, secret: str, request: EnrollRequest, key: str) -> EnrollResponse:
    """Create the host of a new agent in ``connecting`` state, with its datastores."""
    token = _redeem(session, secret)
    cluster = get_or_404(ClusterRepository(session), token.cluster_id, "cluster")
    hosts = HostRepository(session)
    name = request.facts.hostname
    ensure_unique(hosts, f"a host named {name!r} is already enrolled", name=name)
    ensure_unique(
        hosts, f"an agent at {request.agent_url} is already enrolled", agent_url=request.agent_url
    )
    credential, credential_hash = new_host_credential()
    host = _new_host(request, cluster, credential_hash)
    hosts.add(host, conflict=f"a host named {name!r} is already enrolled")
    token.host_id = host.id
    datastores = {p.name: _register_pool(session, host, cluster, p) for p in request.pools}
    emit(
        session,
        type="host_enrolled",
        message=f"host {name} enrolled into {cluster.name}",
        target_type="host",
        target_id=host.id,
    )
    return EnrollResponse(
        host_id=host.id,
        cluster_id=cluster.id,
        host_credential=credential,
        vrm_credential=vrm_credential(key, host.id),
        datastores=datastores,
    )


def _new_host(request: EnrollRequest, cluster: Cluster, credential_hash: str) -> Host:
    facts = request.facts
    return Host(
        cluster_id=cluster.id,
        name=facts.hostname,
        address=request.address,
        agent_url=request.agent_url,
        state=HostState.CONNECTING,
        credential_hash=credential_hash,
        **facts_columns(request.facts),
    )


def facts_columns(facts: HostFacts) -> dict[str, Any]:
    """Host columns taken from reported facts."""
    return {
        "cpu_model": facts.cpu_model,
        "cpu_sockets": facts.cpu_sockets,
        "cpu_cores": facts.cpu_cores,
        "cpu_threads": facts.cpu_threads,
        "cpu_mhz": facts.cpu_mhz,
        "memory_mib": facts.memory_mib,
        "hypervisor": facts.hypervisor,
        "libvirt_version": facts.libvirt_version,
        "hw_virt": facts.hw_virt,
        "capabilities": facts.model_dump(
            mode="json",
            include={"arch", "cpu_vendor", "cpus", "numa_cells", "domain_type", "agent_version"},
        ),
    }


def _register_pool(session: Session, host: Host, cluster: Cluster, pool: PoolReport) -> uuid.UUID:
    """A local datastore for a pool the new agent reported."""
    name = f"{host.name}-{pool.name}"[:64]
    datastores = DatastoreRepository(session)
    ensure_unique(
        datastores, f"a datastore named {name!r} already exists", site_id=cluster.site_id, name=name
    )
    store = Datastore(
        site_id=cluster.site_id,
        name=name,
        type=DatastoreType.LOCAL_DIR,
        source=pool.path,
        capacity_mib=pool.capacity_mib,
        allocated_mib=pool.allocation_mib,
    )
    datastores.add(store, conflict=f"a datastore named {name!r} already exists")
    session.add(HostDatastore(host_id=host.id, datastore_id=store.id, pool_name=pool.name))
    return store.id
