// The Store contract against a real etcd (the same suite the memory store passes).
import { EtcdStore } from '../../controller/src/store/etcd-store.js';
import { storeContract } from '../contract/store-contract.js';
import { useEtcd } from '../harness/etcd.js';

const etcd = useEtcd();

storeContract('EtcdStore (real etcd)', async () => {
  const store = EtcdStore.connect(etcd.options);
  return {
    store,
    cleanup: () => store.close(),
    compact: async (rev: number) => {
      await store.client.kv.compact({ revision: rev, physical: true });
    },
  };
});
