import sys

from PIL import Image

from shared import Client

photo = Image.open(sys.argv[1]).convert("RGBA")
job = {
    "content": {"frame": 1, "width": photo.width, "height": photo.height},  # RGBA, 8 bit
    "styles": [{"name": "starry-night", "weight": 0.7}, {"name": "night-cafe", "weight": 0.3}],
    "size": 256,  # work at 256 px; the result comes back at the photo's own size
}
with Client() as client:  # $IMPASTO_ENDPOINT, else tcp://127.0.0.1:5747
    result = client.run(
        job, [photo.tobytes()], on_event=lambda e: print(e.type, e.body.get("stage", ""))
    )
desc, pixels = result.image_bytes()
Image.frombytes("RGBA", (desc.width, desc.height), pixels).save(sys.argv[2])
