"""The Temporal client every gdtmesh process uses: encrypted payloads and failures, and the
OpenTelemetry interceptor (on the client only; workers built from it inherit it)."""

from __future__ import annotations

import dataclasses

from temporalio.client import Client
from temporalio.contrib.opentelemetry import TracingInterceptor
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes

from gdtmesh.runtime.codec import EncryptionCodec


def data_converter(keys: dict[str, bytes]) -> DataConverter:
    return dataclasses.replace(
        DataConverter.default,
        payload_codec=EncryptionCodec(keys),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


async def connect_temporal(target: str, namespace: str, keys: dict[str, bytes]) -> Client:
    return await Client.connect(
        target,
        namespace=namespace,
        data_converter=data_converter(keys),
        interceptors=[TracingInterceptor()],
    )
