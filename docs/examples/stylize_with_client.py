import sys

from PIL import Image

from shared import Client
from shared.job import JobSpec, StyleRef
from shared.protocol import PixelFormat

photo = Image.open(sys.argv[1]).convert("RGBA")
job = JobSpec(
    content=PixelFormat("u8", "RGBA").describe(1, photo.width, photo.height),  # frame 1
    styles=(StyleRef(0.7, name="starry-night"), StyleRef(0.3, name="great-wave")),
    engine="fast",  # one pass of the shipped model; "gatys" or "hires" optimise instead
)
with Client() as client:  # $IMPASTO_ENDPOINT, else tcp://127.0.0.1:5747
    result = client.run(
        job.to_wire(), [photo.tobytes()], on_event=lambda e: print(e.type, e.body.get("stage", ""))
    )
desc, pixels = result.image_bytes()
Image.frombytes("RGBA", (desc.width, desc.height), pixels).save(sys.argv[2])
