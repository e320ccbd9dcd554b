// Unmodified kafkajs against a broker: produce/consume in a group, then a transaction
// committed and one aborted, read back read_committed. Prints one JSON line of what it saw.
const { Kafka, logLevel } = require('kafkajs')

async function main () {
  const [bootstrap, topic] = process.argv.slice(2)
  const kafka = new Kafka({ clientId: 'bazaar-check', brokers: [bootstrap], logLevel: logLevel.WARN })
  const admin = kafka.admin()
  await admin.connect()
  await admin.createTopics({ topics: [{ topic, numPartitions: 2 }], waitForLeaders: true })
  await admin.disconnect()

  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 })
  await producer.connect()
  const plain = []
  for (let i = 0; i < 50; i++) plain.push({ key: `k${i}`, value: `plain-${i}` })
  await producer.send({ topic, acks: -1, messages: plain })
  await producer.disconnect()

  const txProducer = kafka.producer({ transactionalId: `${topic}-tx`, idempotent: true, maxInFlightRequests: 1 })
  await txProducer.connect()
  let tx = await txProducer.transaction()
  await tx.send({ topic, messages: [{ key: 'c', value: 'committed-1' }, { key: 'c', value: 'committed-2' }] })
  await tx.commit()
  tx = await txProducer.transaction()
  await tx.send({ topic, messages: [{ key: 'a', value: 'aborted-1' }] })
  await tx.abort()
  await txProducer.disconnect()

  const consumer = kafka.consumer({ groupId: `${topic}-group`, readUncommitted: false })
  await consumer.connect()
  await consumer.subscribe({ topic, fromBeginning: true })
  const seen = []
  const expected = 52
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`saw ${seen.length} of ${expected}`)), 60000)
    consumer.run({
      eachMessage: async ({ partition, message }) => {
        seen.push({ partition, offset: message.offset, value: message.value.toString() })
        if (seen.length >= expected) { clearTimeout(timer); setTimeout(resolve, 1000) }
      }
    }).catch(reject)
  })
  const committed = await (async () => {
    const a = kafka.admin(); await a.connect()
    const offsets = await a.fetchOffsets({ groupId: `${topic}-group`, topics: [topic] })
    await a.disconnect(); return offsets
  })()
  await consumer.disconnect()
  console.log(JSON.stringify({ seen, committed }))
}

main().catch((err) => { console.error(err); process.exit(1) })
