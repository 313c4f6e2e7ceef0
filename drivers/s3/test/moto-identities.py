"""Creates the IAM identities the S3 driver tests sign in with, then turns on
moto's request authentication. Run with the moto virtualenv's python (boto3
comes with moto); prints the identities as one JSON line.

Usage: moto-identities.py ENDPOINT
"""

import json
import sys
import urllib.request

import boto3

endpoint = sys.argv[1]
session = boto3.session.Session(
    aws_access_key_id="AKIASETUPSETUPSETUP0",
    aws_secret_access_key="setup",
    region_name="us-east-1",
)
iam = session.client("iam", endpoint_url=endpoint)
sts = session.client("sts", endpoint_url=endpoint)

everything = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": ["s3:*", "sts:*"], "Resource": "*"}],
    }
)


def user(name, policy):
    iam.create_user(UserName=name)
    if policy:
        iam.put_user_policy(UserName=name, PolicyName="access", PolicyDocument=policy)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return {
        "accessKeyId": key["AccessKeyId"],
        "secretAccessKey": key["SecretAccessKey"],
        "arn": iam.get_user(UserName=name)["User"]["Arn"],
    }


writer = user("writer", everything)
# A user with no policy at all: every S3 call is refused.
nobody = user("nobody", None)

trust = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": writer["arn"]}, "Action": "sts:AssumeRole"}
        ],
    }
)
role = iam.create_role(RoleName="artifacts", AssumeRolePolicyDocument=trust)["Role"]
iam.put_role_policy(RoleName="artifacts", PolicyName="access", PolicyDocument=everything)

writer_session = boto3.session.Session(
    aws_access_key_id=writer["accessKeyId"],
    aws_secret_access_key=writer["secretAccessKey"],
    region_name="us-east-1",
)
assumed = writer_session.client("sts", endpoint_url=endpoint).assume_role(
    RoleArn=role["Arn"], RoleSessionName="driver-tests", DurationSeconds=3600
)["Credentials"]

# From here on every request must be signed by a known identity.
request = urllib.request.Request(
    f"{endpoint}/moto-api/reset-auth",
    data=b"0",
    method="POST",
    headers={"Content-Type": "text/plain"},
)
urllib.request.urlopen(request).read()

print(
    json.dumps(
        {
            "writer": writer,
            "nobody": nobody,
            "roleArn": role["Arn"],
            "temporary": {
                "accessKeyId": assumed["AccessKeyId"],
                "secretAccessKey": assumed["SecretAccessKey"],
                "sessionToken": assumed["SessionToken"],
            },
        }
    )
)
